using System.Buffers;
using System.Runtime.CompilerServices;
using Engine.Core.Numerics;
using Engine.Merge.Execution;

namespace Engine.Merge.Methods;

/// <summary>Computes one block of merged values: elements [start, start + result.Length) of the tensor.</summary>
internal delegate void BlockCompute(long start, Span<float> result);

/// <summary>Adds one block's float64 partial sums into <c>sums</c> (the block's own slots).</summary>
internal delegate void BlockSums(long start, int count, Span<double> sums);

/// <summary>The CPU driver every merge method runs on: the tensor is cut into fixed blocks processed in
/// parallel; each block reads its inputs as float32, computes element-wise, and writes a disjoint range.
/// Whole-tensor reductions keep one float64 partial per block and add the partials in block order, so every
/// result is bit-identical whatever the thread count or the output's chunk size.</summary>
internal static class ElementwiseOps
{
    /// <summary>Elements per block (a multiple of 64, so keep-mask words never straddle blocks).</summary>
    public const int BlockElements = 1 << 15;

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

    /// <summary><paramref name="width"/> float64 sums over [0, length): each block adds into its own partials,
    /// which are then added in block order (deterministic for any thread count).</summary>
    public static double[] Sum(long length, int width, BlockSums body, CancellationToken cancellation)
    {
        long blocks = (length + BlockElements - 1) / BlockElements;
        var partials = new double[checked(blocks * width)];
        ForEachBlock(length, (start, count) => body(start, count, partials.AsSpan((int)(start / BlockElements * width), width)), cancellation);
        var total = new double[width];
        for (long b = 0; b < blocks; b++)
        {
            for (int k = 0; k < width; k++) total[k] += partials[b * width + k];
        }
        return total;
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

    /// <summary><c>target = |x - y|</c>; returns the first index where the difference is not finite, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int AbsDifference(Span<float> target, ReadOnlySpan<float> x, ReadOnlySpan<float> y)
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

    /// <summary><c>Σ a_i b_i</c> in float64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += (double)a[i] * b[i];
        return sum;
    }

    /// <summary><c>Σ |a_i|</c> in float64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double SumAbs(ReadOnlySpan<float> a)
    {
        double sum = 0;
        for (int i = 0; i < a.Length; i++) sum += Math.Abs(a[i]);
        return sum;
    }
}

/// <summary>Float32 scratch spans for one block, rented from the shared pool and returned on dispose.</summary>
internal sealed class BlockScratch : IDisposable
{
    private readonly List<float[]> _rented = new();
    private readonly int _count;

    public BlockScratch(int count) => _count = count;

    /// <summary>An uninitialised span of the block's length.</summary>
    public Span<float> Take() => TakeArray().AsSpan(0, _count);

    /// <summary>An uninitialised array of at least the block's length (for lists of rows).</summary>
    public float[] TakeArray()
    {
        var array = ArrayPool<float>.Shared.Rent(Math.Max(1, _count));
        _rented.Add(array);
        return array;
    }

    /// <summary><see cref="Read"/> into an array of at least the block's length.</summary>
    public float[] ReadArray(RawTensor tensor, long start)
    {
        var array = TakeArray();
        tensor.ReadSingles(start, array.AsSpan(0, _count));
        return array;
    }

    /// <summary>Elements [start, start + count) of <paramref name="tensor"/> as float32.</summary>
    public Span<float> Read(RawTensor tensor, long start)
    {
        var span = Take();
        tensor.ReadSingles(start, span);
        return span;
    }

    public void Dispose()
    {
        foreach (var a in _rented) ArrayPool<float>.Shared.Return(a);
        _rented.Clear();
    }
}
