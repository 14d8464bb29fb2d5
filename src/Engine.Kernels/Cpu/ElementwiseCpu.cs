using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Engine.Core;
using Engine.Core.Numerics;

namespace Engine.Kernels.Cpu;

/// <summary>The CPU reference of <see cref="IElementwiseKernels"/>: the algorithmic reference the GPU kernels
/// are tested against, and the production path on CPU. Element-wise work runs block-parallel over
/// <see cref="IElementwiseKernels.ReductionBlock"/>-element blocks; every float64 sum is sequential within a
/// block, the block partials are added in block order, so results do not depend on the thread count.</summary>
internal sealed unsafe partial class ElementwiseCpu(int threads)
{
    private const int Block = IElementwiseKernels.ReductionBlock;

    private ParallelOptions Options => new() { MaxDegreeOfParallelism = threads };

    public void SegmentedLinearCombination(RawTensor output, ReadOnlySpan<RawTensor> inputs, ReadOnlySpan<float> coefficients, RawTensor? @base,
        long segmentLength, long firstElement)
    {
        ElementwiseShapes.CheckSegmentedCombination(output, inputs, coefficients, @base, segmentLength, firstElement);
        long n = output.Length;
        var xs = inputs.ToArray();
        var cs = coefficients.ToArray();
        int k = xs.Length;
        ForEachBlock(n, (start, count) =>
        {
            using var scratch = new BlockScratch(count);
            var acc = scratch.Take();
            var baseValues = @base is { } b ? scratch.Read(b, start) : default;
            if (@base is null) acc.Fill(-0f);
            else baseValues.CopyTo(acc);
            var x = scratch.Take();
            for (int i = 0; i < k; i++)
            {
                xs[i].ReadSingles(start, x);
                if (@base is not null) TensorPrimitives.Subtract(x, baseValues, x);
                // One run per segment the block touches, each with that segment's coefficient.
                for (int e = 0; e < count;)
                {
                    long segment = (firstElement + start + e) / segmentLength;
                    int run = (int)Math.Min(count - e, (segment + 1) * segmentLength - (firstElement + start + e));
                    TensorPrimitives.MultiplyAdd(x.Slice(e, run), cs[segment * k + i], acc.Slice(e, run), acc.Slice(e, run));
                    e += run;
                }
            }
            output.WriteSingles(start, acc);
        });
    }

    public void Gram(Span<double> gram, ReadOnlySpan<RawTensor> inputs, RawTensor? @base, long segmentLength)
    {
        int k = inputs.Length;
        var (segments, perSegment) = ElementwiseShapes.CheckGram(gram, inputs, @base, segmentLength);
        gram.Clear();
        if (segments == 0) return;
        var xs = inputs.ToArray();
        var partials = new double[checked(segments * perSegment * k * k)];
        ForEach(segments * perSegment, item =>
        {
            long s = item / perSegment, b = item % perSegment;
            long start = s * segmentLength + b * Block;
            int count = (int)Math.Min(Block, segmentLength - b * Block);
            using var scratch = new BlockScratch(count);
            var v = new float[k][];
            var baseValues = @base is { } bt ? scratch.Read(bt, start) : default;
            for (int i = 0; i < k; i++)
            {
                v[i] = scratch.ReadArray(xs[i], start);
                if (@base is not null) TensorPrimitives.Subtract(v[i].AsSpan(0, count), baseValues, v[i].AsSpan(0, count));
            }
            GramBlock(partials.AsSpan((int)(item * k * k), k * k), v, count);
        });
        for (long s = 0; s < segments; s++)
        {
            var g = gram.Slice((int)(s * k * k), k * k);
            for (long b = 0; b < perSegment; b++)
            {
                for (int i = 0; i < k; i++)
                {
                    for (int j = i; j < k; j++) g[i * k + j] += partials[(s * perSegment + b) * k * k + i * k + j];
                }
            }
            for (int i = 0; i < k; i++)
            {
                for (int j = 0; j < i; j++) g[i * k + j] = g[j * k + i];
            }
        }
    }

    public void AbsDifference(NativeArray<float> magnitudes, RawTensor other, RawTensor @base)
    {
        long n = magnitudes.Length;
        ElementwiseShapes.CheckDifference(n, other, @base);
        long firstBad = long.MaxValue;
        ForEachBlock(n, (start, count) =>
        {
            using var scratch = new BlockScratch(count);
            var x = scratch.Read(other, start);
            var y = scratch.Read(@base, start);
            int bad = AbsDifference(magnitudes.Slice(start, count), x, y);
            if (bad < 0) return;
            long seen = Volatile.Read(ref firstBad);
            while (start + bad < seen && Interlocked.CompareExchange(ref firstBad, start + bad, seen) != seen) seen = Volatile.Read(ref firstBad);
        });
        NonFiniteInputs.ThrowIfAny(firstBad == long.MaxValue ? ulong.MaxValue : (ulong)firstBad, @base);
    }

    public void AbsDifferenceSums(Span<double> sums, RawTensor other, RawTensor @base, ReadOnlySpan<ulong> keep)
    {
        long n = other.Length, blocks = ElementwiseShapes.CheckSums(sums, other, @base, keep);
        var partials = new double[blocks * 2];
        fixed (ulong* words = keep)
        {
            nint w = (nint)words;
            ForEachBlock(n, (start, count) =>
            {
                using var scratch = new BlockScratch(count);
                var x = scratch.Read(other, start);
                var y = scratch.Read(@base, start);
                AddL1(x, y, (ulong*)w, start, partials.AsSpan((int)(start / Block * 2), 2));
            });
        }
        sums.Clear();
        for (long b = 0; b < blocks; b++)
        {
            sums[0] += partials[b * 2];
            sums[1] += partials[b * 2 + 1];
        }
    }

    public void RandomKeepMask(Span<ulong> keep, long length, ulong key, double density)
    {
        ElementwiseShapes.CheckMask(keep, length);
        keep.Clear();
        fixed (ulong* words = keep)
        {
            nint w = (nint)words;
            ForEachBlock(length, (start, count) => MarkBelow((ulong*)w, key, start, count, density));
        }
    }

    public void TaskArithmetic(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, TaskArithmeticTerms terms, long maskStart)
    {
        ElementwiseShapes.CheckTaskArithmetic(output, models, @base, terms, maskStart);
        long n = output.Length;
        var xs = models.ToArray();
        int k = xs.Length;
        var weights = terms.Weights.ToArray();
        float linearDivisor = terms.LinearDivisor;
        ForEachBlock(n, (start, count) =>
        {
            using var scratch = new BlockScratch(count);
            var baseValues = scratch.Read(@base, start);
            var deltas = new float[k][];
            for (int i = 0; i < k; i++)
            {
                deltas[i] = scratch.ReadArray(xs[i], start);
                TaskArithmeticCpu.WeightedDelta(deltas[i].AsSpan(0, count), baseValues, terms.Masks[i], maskStart + start, terms.Scales[i], weights[i]);
            }
            var result = scratch.Take();
            TaskArithmeticCpu.Combine(result, baseValues, deltas, weights, terms.SignConsensus, terms.Normalize, terms.Lambda, linearDivisor);
            output.WriteSingles(start, result);
        });
    }

    public void NearSwap(RawTensor output, RawTensor model, RawTensor @base, float t)
    {
        ElementwiseShapes.Check(output.Length, [model], @base);
        ForEachBlock(output.Length, (start, count) =>
        {
            using var scratch = new BlockScratch(count);
            var b = scratch.Read(@base, start);
            var m = scratch.Read(model, start);
            var result = scratch.Take();
            NearSwap(result, m, b, t);
            output.WriteSingles(start, result);
        });
    }

    public void CountedAverage(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, float epsilon)
    {
        ElementwiseShapes.Check(output.Length, models, @base);
        var xs = models.ToArray();
        ForEachBlock(output.Length, (start, count) =>
        {
            using var scratch = new BlockScratch(count);
            var baseValues = scratch.Read(@base, start);
            var sum = scratch.Take();
            var counts = scratch.Take();
            sum.Clear();
            counts.Clear();
            foreach (var model in xs) AddChanged(sum, counts, scratch.Read(model, start), baseValues, epsilon);
            for (int e = 0; e < count; e++) sum[e] = baseValues[e] + sum[e] / MathF.Max(1, counts[e]);
            output.WriteSingles(start, sum);
        });
    }

    /// <summary><c>w = clamp(t / max(|b - m|, 1e-6), 0, 1)</c>, <c>target = w m + (1 - w) b</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void NearSwap(Span<float> target, ReadOnlySpan<float> m, ReadOnlySpan<float> b, float t)
    {
        for (int e = 0; e < target.Length; e++)
        {
            float w = Math.Clamp(t / MathF.Max(MathF.Abs(b[e] - m[e]), 1e-6f), 0f, 1f);
            target[e] = w * m[e] + (1 - w) * b[e];
        }
    }

    /// <summary>Where <c>|x - b| &gt; epsilon</c>: <c>sum += x - b</c>, <c>count += 1</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddChanged(Span<float> sum, Span<float> count, ReadOnlySpan<float> x, ReadOnlySpan<float> b, float epsilon)
    {
        for (int e = 0; e < sum.Length; e++)
        {
            float d = x[e] - b[e];
            if (MathF.Abs(d) > epsilon)
            {
                sum[e] += d;
                count[e] += 1;
            }
        }
    }

    /// <summary><c>target = |x - y|</c>; returns the first index where the difference is not finite, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int AbsDifference(Span<float> target, ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        bool finite = true;
        for (int e = 0; e < target.Length; e++)
        {
            float d = x[e] - y[e];
            finite &= float.IsFinite(d);
            target[e] = Math.Abs(d);
        }
        if (finite) return -1;
        for (int e = 0; e < target.Length; e++)
        {
            if (!float.IsFinite(x[e] - y[e])) return e;
        }
        return -1;
    }

    /// <summary><c>gram[i, j] = Σ_e v_i[e] v_j[e]</c> for j &gt;= i over one block, each product exact in float64 and
    /// each sum in element order. All pairs advance together, so the sums' dependency chains overlap (the order
    /// within each sum is that of one dot product at a time).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GramBlock(Span<double> gram, float[][] v, int count)
    {
        int k = v.Length;
        if (k == 2)
        {
            // Slerp's case, with the sums in registers.
            float[] a = v[0], b = v[1];
            double aa = 0, bb = 0, ab = 0;
            for (int e = 0; e < count; e++)
            {
                double x = a[e], y = b[e];
                aa += x * x;
                ab += x * y;
                bb += y * y;
            }
            (gram[0], gram[1], gram[3]) = (aa, ab, bb);
            return;
        }
        Span<double> sums = stackalloc double[k * k];
        sums.Clear();
        for (int e = 0; e < count; e++)
        {
            for (int i = 0; i < k; i++)
            {
                double vi = v[i][e];
                for (int j = i; j < k; j++) sums[i * k + j] += vi * v[j][e];
            }
        }
        sums.CopyTo(gram);
    }

    /// <summary>sums = (Σ|x - y|, Σ over kept elements |x - y|) for one block starting at element <paramref name="start"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddL1(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ulong* keep, long start, Span<double> sums)
    {
        double before = 0, after = 0;
        for (int e = 0; e < x.Length; e++)
        {
            double d = Math.Abs(x[e] - y[e]);
            before += d;
            long i = start + e;
            if ((keep[i >> 6] & (1UL << (int)(i & 63))) != 0) after += d;
        }
        sums[0] = before;
        sums[1] = after;
    }

    /// <summary>Writes the mask words of elements [start, start + count) (start a multiple of 64). The draw's test
    /// <c>(h &gt;&gt; 11) 2^-53 &lt; density</c> is the integer test <c>(h &gt;&gt; 11) &lt; ceil(density 2^53)</c> (the scaling by
    /// 2^53 is exact and h &gt;&gt; 11 an integer), with no conversion to double per element.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MarkBelow(ulong* keep, ulong key, long start, int count, double density)
    {
        ulong threshold = !(density > 0) ? 0 : density >= 1 ? 1UL << 53 : (ulong)Math.Ceiling(density * (1UL << 53));
        long end = start + count;
        for (long w = start >> 6; w << 6 < end; w++)
        {
            int bitsInWord = (int)Math.Min(64, end - (w << 6));
            ulong z = key + (ulong)(w << 6) * CounterHash.Golden, bits = 0;
            for (int b = 0; b < bitsInWord; b++, z += CounterHash.Golden)
                bits |= ((CounterHash.Mix(z) >> 11) < threshold ? 1UL : 0UL) << b;
            keep[w] = bits;
        }
    }

    private void ForEachBlock(long length, Action<long, int> body) =>
        ForEach((length + Block - 1) / Block, b => body(b * Block, (int)Math.Min(Block, length - b * Block)));

    private void ForEach(long items, Action<long> body)
    {
        if (items == 1) body(0);
        else if (items > 1) Parallel.For(0L, items, Options, body);
    }
}
