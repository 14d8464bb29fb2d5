using System.Runtime.ExceptionServices;
using Engine.Core;
using Engine.Core.Diagnostics;
using Engine.Core.Model;
using Engine.Core.Numerics;

namespace Engine.Merge.Execution;

/// <summary>Streams a tensor into its shard in fixed-size chunks through two reusable buffers: while one chunk is
/// written (on a pool thread), the next is computed into the other, so a GPU's kernels and downloads overlap the
/// writes instead of waiting for them. A tensor of one chunk is written on the calling thread.</summary>
internal sealed class ShardOutput : ITensorOutput, IDisposable
{
    /// <summary>Elements per chunk: large enough for full-speed writes, small enough to keep memory flat.</summary>
    public const int ChunkElements = 1 << 22;

    private readonly ShardWriter _writer;
    private readonly string _name;
    private readonly NativeArray<byte> _buffers;
    private readonly long _chunkBytes;
    private readonly ProfileTrace? _trace;

    /// <summary>The chunk buffers come from <paramref name="scratch"/>, the worker's reusable buffers, when given.</summary>
    public ShardOutput(ShardWriter writer, string name, DType dtype, long length, ProfileTrace? trace = null, ScratchArena? scratch = null)
    {
        _trace = trace;
        _writer = writer;
        _name = name;
        DType = dtype;
        Length = length;
        _chunkBytes = (long)Math.Min(ChunkElements, Math.Max(1, length)) * dtype.SizeOf();
        long bytes = length > ChunkElements ? 2 * _chunkBytes : _chunkBytes;
        _buffers = scratch?.RentBytes(bytes) ?? new NativeArray<byte>(bytes);
    }

    public DType DType { get; }
    public long Length { get; }

    public unsafe void Fill(Action<RawTensor, long> produce, CancellationToken cancellation)
    {
        Task? pending = null;
        try
        {
            int half = 0;
            for (long start = 0; start < Length; start += ChunkElements, half ^= 1)
            {
                cancellation.ThrowIfCancellationRequested();
                int count = (int)Math.Min(ChunkElements, Length - start);
                long offset = half * _chunkBytes;
                produce(new RawTensor(_buffers.Pointer + offset, DType, count), start);
                // The previous chunk's write must be done before this one is queued: it used the other buffer,
                // which the next produce overwrites.
                pending?.GetAwaiter().GetResult();
                pending = null;
                long begin = start;
                if (Length <= ChunkElements) Write(offset, count, begin);
                else pending = Task.Run(() => Write(offset, count, begin), CancellationToken.None);
            }
            pending?.GetAwaiter().GetResult();
            pending = null;
        }
        catch (Exception e) when (pending != null)
        {
            // Never leave a write running into buffers the caller is about to release; its own failure, if
            // any, is secondary to the one being reported.
            try { pending.Wait(CancellationToken.None); } catch (AggregateException) { }
            ExceptionDispatchInfo.Capture(e).Throw();
        }
    }

    private void Write(long offset, int count, long start)
    {
        using var span = _trace.Span("write", "write", $"{_name} [{start}, {start + count})");
        _writer.WriteTensor(_name, _buffers.Slice(offset, count * DType.SizeOf()), start * DType.SizeOf());
    }

    public void Dispose() => _buffers.Dispose();
}
