using System.Collections.Immutable;

namespace Engine.Merge.Methods;

/// <summary>How a tensor splits into the vectors a method normalises: the whole tensor, the rows of its last
/// dimension, or the vectors along its first dimension (element (i, j) of a [d0, rest] view belongs to vector j),
/// as <see cref="Engine.Kernels.IElementwiseKernels.PairSums"/> takes them.</summary>
internal sealed record VectorLayout(long Count, long Length, bool AlongFirst)
{
    public static VectorLayout For(ImmutableArray<long> shape, long n, bool flatten, bool alongFirst)
    {
        if (flatten || shape.Length <= 1 || n == 0) return new VectorLayout(1, n, false);
        if (alongFirst) return new VectorLayout(n / shape[0], shape[0], true);
        return new VectorLayout(n / shape[^1], shape[^1], false);
    }
}
