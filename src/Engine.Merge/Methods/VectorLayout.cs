using System.Buffers;
using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using Engine.Kernels.Cpu;

namespace Engine.Merge.Methods;

/// <summary>How a tensor splits into the vectors a method normalises: the whole tensor, the rows of its last
/// dimension, or the vectors along its first dimension (element (i, j) of a [d0, rest] view belongs to vector j).</summary>
internal sealed record VectorLayout(long Count, long Length, bool AlongFirst)
{
    public static VectorLayout For(ImmutableArray<long> shape, long n, bool flatten, bool alongFirst)
    {
        if (flatten || shape.Length <= 1 || n == 0) return new VectorLayout(1, n, false);
        if (alongFirst) return new VectorLayout(n / shape[0], shape[0], true);
        return new VectorLayout(n / shape[^1], shape[^1], false);
    }

    public long VectorOf(long element) => Count == 1 ? 0 : AlongFirst ? element % Count : element / Length;

    /// <summary>Per-vector float64 sums of <paramref name="width"/> per-element terms (vector-major result).
    /// <paramref name="body"/>(start, count, scratch, terms) writes term w of element start + e at
    /// <c>terms[w * count + e]</c> for one contiguous run; each vector's terms are added in element order within
    /// fixed runs, so the sums do not depend on the thread count.</summary>
    public double[] Sums(int width, TermsBody body, CancellationToken cancellation)
    {
        var sums = new double[checked(Count * width)];
        if (Count == 1)
        {
            ElementwiseOps.Sum(Length, width, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, count, s) =>
            {
                using var scratch = new BlockScratch(count);
                var terms = ArrayPool<double>.Shared.Rent(width * count);
                body(start, count, scratch, terms.AsSpan(0, width * count));
                for (int w = 0; w < width; w++)
                {
                    double sum = 0;
                    for (int e = 0; e < count; e++) sum += terms[w * count + e];
                    s[w] += sum;
                }
                ArrayPool<double>.Shared.Return(terms);
            }, cancellation).CopyTo(sums, 0);
        }
        else if (!AlongFirst)
        {
            Parallel.For(0L, Count, new ParallelOptions { CancellationToken = cancellation }, v =>
            {
                int count = (int)Length;
                using var scratch = new BlockScratch(count);
                var terms = ArrayPool<double>.Shared.Rent(width * count);
                body(v * Length, count, scratch, terms.AsSpan(0, width * count));
                for (int w = 0; w < width; w++)
                {
                    double sum = 0;
                    for (int e = 0; e < count; e++) sum += terms[w * count + e];
                    sums[v * width + w] = sum;
                }
                ArrayPool<double>.Shared.Return(terms);
            });
        }
        else
        {
            // Element (i, j) of the [Length, Count] view sits at i * Count + j: read row runs of a block of
            // columns and add each column's term, rows in order.
            long blocks = (Count + ElementwiseOps.BlockElements - 1) / ElementwiseOps.BlockElements;
            Parallel.For(0L, blocks, new ParallelOptions { CancellationToken = cancellation }, block =>
            {
                long first = block * ElementwiseOps.BlockElements;
                int count = (int)Math.Min(ElementwiseOps.BlockElements, Count - first);
                var terms = new double[width * count];
                for (long i = 0; i < Length; i++)
                {
                    using var scratch = new BlockScratch(count);
                    body(i * Count + first, count, scratch, terms.AsSpan(0, width * count));
                    for (int j = 0; j < count; j++)
                    {
                        for (int w = 0; w < width; w++) sums[(first + j) * width + w] += terms[w * count + j];
                    }
                }
            });
        }
        return sums;
    }
}

/// <summary>Writes per-element terms of one run for <see cref="VectorLayout.Sums"/>.</summary>
internal delegate void TermsBody(long start, int count, BlockScratch scratch, Span<double> terms);
