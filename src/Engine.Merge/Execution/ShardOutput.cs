using Engine.Core;
using Engine.Core.Diagnostics;
using Engine.Core.Model;
using Engine.Core.Numerics;

namespace Engine.Merge.Execution;

/// <summary>Streams a tensor into its shard in fixed-size chunks through one reusable buffer.</summary>
internal sealed class ShardOutput : ITensorOutput, IDisposable
{
    /// <summary>Elements per chunk: large enough for full-speed writes, small enough to keep memory flat.</summary>
    public const int ChunkElements = 1 << 22;

    private readonly ShardWriter _writer;
    private readonly string _name;
    private readonly NativeArray<byte> _buffer;
    private readonly PipelineTrace? _trace;

    /// <summary>The chunk buffer comes from <paramref name="scratch"/>, the worker's reusable buffers, when given.</summary>
    public ShardOutput(ShardWriter writer, string name, DType dtype, long length, PipelineTrace? trace = null, ScratchArena? scratch = null)
    {
        _trace = trace;
        _writer = writer;
        _name = name;
        DType = dtype;
        Length = length;
        long bytes = (long)Math.Min(ChunkElements, Math.Max(1, length)) * dtype.SizeOf();
        _buffer = scratch?.RentBytes(bytes) ?? new NativeArray<byte>(bytes);
    }

    public DType DType { get; }
    public long Length { get; }

    public unsafe void Fill(Action<RawTensor, long> produce, CancellationToken cancellation)
    {
        for (long start = 0; start < Length; start += ChunkElements)
        {
            cancellation.ThrowIfCancellationRequested();
            int count = (int)Math.Min(ChunkElements, Length - start);
            var chunk = new RawTensor(_buffer.Pointer, DType, count);
            produce(chunk, start);
            using var span = _trace.Span("write", "write", $"{_name} [{start}, {start + count})");
            _writer.WriteTensor(_name, _buffer.Slice(0, count * DType.SizeOf()), start * DType.SizeOf());
        }
    }

    public void Dispose() => _buffer.Dispose();
}
