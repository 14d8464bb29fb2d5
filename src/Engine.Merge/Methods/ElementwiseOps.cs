using System.Buffers;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Merge.Execution;

namespace Engine.Merge.Methods;

/// <summary>Computes one block of merged values: elements [start, start + result.Length) of the tensor.</summary>
internal delegate void BlockCompute(long start, Span<float> result);

/// <summary>Computes one output chunk on the kernel contract from the inputs' and the base's slices over its
/// range; <c>start</c> is the chunk's first element in the tensor.</summary>
internal delegate void ChunkKernel(RawTensor chunk, RawTensor[] inputs, RawTensor? @base, long start);

/// <summary>The helpers that drive <see cref="IElementwiseKernels"/> chunk by chunk for the methods, and the
/// block-parallel CPU loops left outside the contract (dtype-converting copies, KeepMask's marking). Blocks are
/// fixed, so results do not depend on the thread count or the output's chunk size.</summary>
internal static class ElementwiseOps
{
    /// <summary>Elements per block (a multiple of 64, so keep-mask words never straddle blocks).</summary>
    public const int BlockElements = IElementwiseKernels.ReductionBlock;

    /// <summary>Calls <paramref name="body"/>(start, count) for every block of [0, length), in parallel.</summary>
    public static void ForEachBlock(long length, Action<long, int> body, CancellationToken cancellation)
    {
        long blocks = (length + BlockElements - 1) / BlockElements;
        if (blocks == 1)
        {
            body(0, (int)length);
            return;
        }
        Parallel.For(0L, blocks, new ParallelOptions { CancellationToken = cancellation }, b =>
        {
            long start = b * BlockElements;
            body(start, (int)Math.Min(BlockElements, length - start));
        });
    }

    /// <summary>Writes the merged tensor through <paramref name="output"/> chunk by chunk, each chunk computed
    /// block-parallel by <paramref name="compute"/> in float32 and converted to the output dtype.</summary>
    public static void Fill(ITensorOutput output, BlockCompute compute, CancellationToken cancellation)
    {
        output.Fill((chunk, chunkStart) => ForEachBlock(chunk.Length, (start, count) =>
        {
            var buffer = ArrayPool<float>.Shared.Rent(count);
            try
            {
                var result = buffer.AsSpan(0, count);
                compute(chunkStart + start, result);
                chunk.WriteSingles(start, result);
            }
            finally
            {
                ArrayPool<float>.Shared.Return(buffer);
            }
        }, cancellation), cancellation);
    }

    /// <summary>Writes <c>Σ_i c_i x_i</c> (with a base b: <c>b + Σ_i c_i (x_i - b)</c>) through the output chunk by
    /// chunk, each chunk by <see cref="IElementwiseKernels.LinearCombination"/>.</summary>
    public static void Combine(ITensorOutput output, IMergeKernels kernels, IReadOnlyList<RawTensor> inputs, float[] coefficients, RawTensor? @base, CancellationToken cancellation) =>
        ByChunk(output, inputs, @base, (chunk, slices, baseSlice, _) => kernels.LinearCombination(chunk, slices, coefficients, baseSlice), cancellation);

    /// <summary>Writes the output chunk by chunk: <paramref name="kernel"/>(chunk, the inputs' and the base's slices
    /// over the chunk's range, the chunk's first element), a kernel-contract call per chunk.</summary>
    public static void ByChunk(ITensorOutput output, IReadOnlyList<RawTensor> inputs, RawTensor? @base, ChunkKernel kernel, CancellationToken cancellation) =>
        output.Fill((chunk, start) => kernel(chunk, inputs.Select(x => x.Slice(start, chunk.Length)).ToArray(), @base?.Slice(start, chunk.Length), start), cancellation);

    /// <summary>The float64 Gram matrix (k x k, row-major) of whole tensors, or of their differences from
    /// <paramref name="base"/> (<see cref="IElementwiseKernels.Gram"/>).</summary>
    public static double[] Gram(IMergeKernels kernels, IReadOnlyList<RawTensor> inputs, RawTensor? @base)
    {
        var gram = new double[inputs.Count * inputs.Count];
        kernels.Gram(gram, inputs.ToArray(), @base, Math.Max(1, inputs[0].Length));
        return gram;
    }

    /// <summary>Copies <paramref name="source"/> to the output (converting dtype when they differ).</summary>
    public static void Copy(ITensorOutput output, RawTensor source, CancellationToken cancellation)
    {
        if (source.DType == output.DType)
        {
            output.Fill((chunk, start) => source.Bytes(start, (int)chunk.Length).CopyTo(chunk.WritableBytes(0, (int)chunk.Length)), cancellation);
            return;
        }
        Fill(output, (start, result) => source.ReadSingles(start, result), cancellation);
    }
}
