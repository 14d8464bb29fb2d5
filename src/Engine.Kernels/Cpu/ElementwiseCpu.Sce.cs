using System.Runtime.CompilerServices;
using Engine.Core.Numerics;

namespace Engine.Kernels.Cpu;

/// <summary>SCE's primitives (<see cref="IElementwiseKernels.DeltaVariance"/>, <see cref="IElementwiseKernels.DeltaSquareSums"/>,
/// <see cref="IElementwiseKernels.SignElectedMean"/>): the reference loops, in the float32 order the contract
/// writes, run block by block as the rest of <see cref="ElementwiseCpu"/>.</summary>
internal sealed unsafe partial class ElementwiseCpu
{
    public long DeltaVariance(NativeArray<float> variance, ReadOnlySpan<RawTensor> models, RawTensor @base)
    {
        long n = variance.Length;
        ElementwiseShapes.Check(n, models, @base);
        var xs = models.ToArray();
        long firstBad = long.MaxValue, nonzero = 0;
        ForEachBlock(n, (start, count) =>
        {
            using var scratch = new BlockScratch(count);
            var baseValues = scratch.Read(@base, start);
            var x = new float[xs.Length][];
            for (int i = 0; i < xs.Length; i++) x[i] = scratch.ReadArray(xs[i], start);
            int bad = Variance(variance.Slice(start, count), x, baseValues, out long blockNonzero);
            Interlocked.Add(ref nonzero, blockNonzero);
            if (bad < 0) return;
            long seen = Volatile.Read(ref firstBad);
            while (start + bad < seen && Interlocked.CompareExchange(ref firstBad, start + bad, seen) != seen) seen = Volatile.Read(ref firstBad);
        });
        NonFiniteInputs.ThrowIfAny(firstBad == long.MaxValue ? ulong.MaxValue : (ulong)firstBad, @base);
        return nonzero;
    }

    public void DeltaSquareSums(Span<double> sums, ReadOnlySpan<RawTensor> models, RawTensor @base, ulong[]? keep)
    {
        int k = models.Length;
        long n = @base.Length, blocks = ElementwiseShapes.CheckSquareSums(sums, models, @base, keep);
        var xs = models.ToArray();
        var partials = new double[checked(blocks * k)];
        ForEachBlock(n, (start, count) =>
        {
            using var scratch = new BlockScratch(count);
            var baseValues = scratch.Read(@base, start);
            for (int i = 0; i < k; i++) partials[start / IElementwiseKernels.ReductionBlock * k + i] = SquareSum(scratch.Read(xs[i], start), baseValues, keep, start);
        });
        sums.Clear();
        for (long b = 0; b < blocks; b++)
        {
            for (int i = 0; i < k; i++) sums[i] += partials[b * k + i];
        }
    }

    public void SignElectedMean(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, ReadOnlySpan<float> weights, ulong[]? keep, long keepStart)
    {
        ElementwiseShapes.CheckSignElection(output, models, @base, weights, keep, keepStart);
        var xs = models.ToArray();
        var w = weights.ToArray();
        ForEachBlock(output.Length, (start, count) =>
        {
            using var scratch = new BlockScratch(count);
            var baseValues = scratch.Read(@base, start);
            var deltas = new float[xs.Length][];
            for (int i = 0; i < xs.Length; i++)
            {
                deltas[i] = scratch.ReadArray(xs[i], start);
                KeptDelta(deltas[i].AsSpan(0, count), baseValues, keep, keepStart + start);
            }
            var result = scratch.Take();
            ElectedMean(result, baseValues, deltas, w);
            output.WriteSingles(start, result);
        });
    }

    /// <summary>target = the variance of the deltas <c>x_i - b</c> (mean first, then the centred squares); returns the
    /// first element whose delta is not finite, or -1, and counts the nonzero variances.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Variance(Span<float> target, float[][] x, ReadOnlySpan<float> b, out long nonzero)
    {
        int k = x.Length, bad = -1;
        Span<float> mean = target;
        mean.Clear();
        for (int i = 0; i < k; i++)
        {
            for (int e = 0; e < mean.Length; e++)
            {
                float d = x[i][e] - b[e];
                if (!float.IsFinite(d) && (bad < 0 || e < bad)) bad = e;
                mean[e] += d;
            }
        }
        nonzero = 0;
        for (int e = 0; e < target.Length; e++)
        {
            float m = mean[e] / k, square = 0;
            for (int i = 0; i < k; i++)
            {
                float c = x[i][e] - b[e] - m;
                square += c * c;
            }
            target[e] = square / k;
            if (target[e] != 0) nonzero++;
        }
        return bad;
    }

    /// <summary>Σ over the kept elements of the block starting at <paramref name="start"/> of <c>(double)(x - b)²</c>, in element order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double SquareSum(ReadOnlySpan<float> x, ReadOnlySpan<float> b, ulong[]? keep, long start)
    {
        double s = 0;
        for (int e = 0; e < x.Length; e++)
        {
            long i = start + e;
            if (keep is not null && (keep[i >> 6] & (1UL << (int)(i & 63))) == 0) continue;
            double v = x[e] - b[e];
            s += v * v;
        }
        return s;
    }

    /// <summary>In place: <c>d = kept(first + e) ? d - b : +0</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void KeptDelta(Span<float> d, ReadOnlySpan<float> b, ulong[]? keep, long first)
    {
        for (int e = 0; e < d.Length; e++)
        {
            long i = first + e;
            d[e] = keep is null || (keep[i >> 6] & (1UL << (int)(i & 63))) != 0 ? d[e] - b[e] : 0f;
        }
    }

    /// <summary>target = b + (Σ over the majority sign's d_i of d_i w_i) / max(Σ of their w_i, 1e-6), the majority
    /// the sign of the unweighted sum (zero counts as +).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ElectedMean(Span<float> target, ReadOnlySpan<float> b, float[][] deltas, float[] weights)
    {
        int k = deltas.Length;
        for (int e = 0; e < target.Length; e++)
        {
            float sum = 0;
            for (int i = 0; i < k; i++) sum += deltas[i][e];
            float majority = sum >= 0 ? 1f : -1f;
            float mixed = 0, divisor = 0;
            for (int i = 0; i < k; i++)
            {
                float d = deltas[i][e];
                if ((d > 0 ? 1f : d < 0 ? -1f : 0f) != majority) continue;
                mixed += d * weights[i];
                divisor += weights[i];
            }
            target[e] = b[e] + mixed / MathF.Max(divisor, 1e-6f);
        }
    }
}
