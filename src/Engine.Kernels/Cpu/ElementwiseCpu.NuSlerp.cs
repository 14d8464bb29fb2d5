using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using Engine.Core.Numerics;

namespace Engine.Kernels.Cpu;

/// <summary>NuSLERP's primitives (<see cref="IElementwiseKernels.PairSums"/>, <see cref="IElementwiseKernels.SlerpBlend"/>):
/// a whole-tensor vector is summed block by block as the rest of <see cref="ElementwiseCpu"/>, a row in parallel
/// over rows, a column in parallel over blocks of columns, each sum in element order.</summary>
internal sealed unsafe partial class ElementwiseCpu
{
    public void PairSums(Span<double> sums, RawTensor x0, RawTensor x1, RawTensor? @base, long vectors, bool alongFirst)
    {
        long n = x0.Length, length = ElementwiseShapes.CheckPairSums(sums, x0, x1, @base, vectors);
        sums.Clear();
        if (n == 0) return;
        var result = new double[sums.Length];
        if (vectors == 1)
        {
            long blocks = (n + Block - 1) / Block;
            var partials = new double[blocks * 4];
            ForEachBlock(n, (start, count) => AddPairTerms(partials.AsSpan((int)(start / Block * 4), 4), x0, x1, @base, start, count, 1));
            for (long b = 0; b < blocks; b++)
            {
                for (int w = 0; w < 4; w++) result[w] += partials[b * 4 + w];
            }
        }
        else if (!alongFirst)
        {
            ForEach(vectors, v => AddPairTerms(result.AsSpan((int)(v * 4), 4), x0, x1, @base, v * length, (int)length, 1));
        }
        else
        {
            // Element (i, j) of the [length, vectors] view sits at i * vectors + j: each row run of a block of columns
            // adds its terms to the columns' sums, rows in order.
            ForEach((vectors + Block - 1) / Block, block =>
            {
                long first = block * Block;
                int count = (int)Math.Min(Block, vectors - first);
                var target = result.AsSpan((int)(first * 4), count * 4);
                for (long i = 0; i < length; i++) AddPairTerms(target, x0, x1, @base, i * vectors + first, count, count);
            });
        }
        result.CopyTo(sums);
    }

    public void SlerpBlend(RawTensor output, RawTensor x0, RawTensor x1, RawTensor? @base, ReadOnlySpan<float> coefficients, ReadOnlySpan<ulong> lerp, float t,
        long length, long vectors, bool alongFirst, long firstElement)
    {
        ElementwiseShapes.CheckSlerpBlend(output, x0, x1, @base, coefficients, lerp, length, vectors, firstElement);
        var c = coefficients.ToArray();
        var flags = lerp.ToArray();
        long vectorLength = length / vectors;
        ForEachBlock(output.Length, (start, count) =>
        {
            using var scratch = new BlockScratch(count);
            var v0 = scratch.Read(x0, start);
            var v1 = scratch.Read(x1, start);
            var baseValues = @base is { } b ? scratch.Read(b, start) : default;
            if (@base is not null)
            {
                TensorPrimitives.Subtract(v0, baseValues, v0);
                TensorPrimitives.Subtract(v1, baseValues, v1);
            }
            var result = scratch.Take();
            Blend(result, v0, v1, baseValues, @base is not null, c, flags, t, vectors, vectorLength, alongFirst, firstElement + start);
            output.WriteSingles(start, result);
        });
    }

    /// <summary>Adds the four pair terms of elements [start, start + count) of the tensor: with <paramref name="stride"/> 1
    /// into one vector's sums (a sum from 0 in element order, then added to <paramref name="sums"/>), with stride count
    /// element e's terms into vector e's sums (<paramref name="sums"/> (count, 4)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void AddPairTerms(Span<double> sums, RawTensor x0, RawTensor x1, RawTensor? @base, long start, int count, int stride)
    {
        using var scratch = new BlockScratch(count);
        var v0 = scratch.Read(x0, start);
        var v1 = scratch.Read(x1, start);
        if (@base is { } b)
        {
            var baseValues = scratch.Read(b, start);
            TensorPrimitives.Subtract(v0, baseValues, v0);
            TensorPrimitives.Subtract(v1, baseValues, v1);
        }
        if (stride == 1)
        {
            double aa = 0, bb = 0, ab = 0, dd = 0;
            for (int e = 0; e < count; e++)
            {
                double x = v0[e], y = v1[e], d = x - y;
                aa += x * x;
                bb += y * y;
                ab += x * y;
                dd += d * d;
            }
            sums[0] += aa;
            sums[1] += bb;
            sums[2] += ab;
            sums[3] += dd;
            return;
        }
        for (int e = 0; e < count; e++)
        {
            double x = v0[e], y = v1[e], d = x - y;
            sums[e * 4] += x * x;
            sums[e * 4 + 1] += y * y;
            sums[e * 4 + 2] += x * y;
            sums[e * 4 + 3] += d * d;
        }
    }

    /// <summary>target = [b +] (lerp(v) ? v0 + t (v1 - v0) : c0 v0 + c1 v1) for the elements from the tensor's element <paramref name="first"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Blend(Span<float> target, ReadOnlySpan<float> v0, ReadOnlySpan<float> v1, ReadOnlySpan<float> b, bool withBase, float[] c, ulong[] lerp, float t,
        long vectors, long vectorLength, bool alongFirst, long first)
    {
        for (int e = 0; e < target.Length; e++)
        {
            long v = ElementwiseShapes.VectorOf(first + e, vectors, vectorLength, alongFirst);
            float r = (lerp[v >> 6] & (1UL << (int)(v & 63))) != 0 ? v0[e] + t * (v1[e] - v0[e]) : c[v * 2] * v0[e] + c[v * 2 + 1] * v1[e];
            target[e] = withBase ? b[e] + r : r;
        }
    }
}
