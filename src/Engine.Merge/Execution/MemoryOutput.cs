using Engine.Core;
using Engine.Core.Numerics;

namespace Engine.Merge.Execution;

/// <summary>Keeps an intermediate stage's tensor in memory, in the stage's output dtype (so a multi-stage
/// plan rounds exactly as separate merges would).</summary>
internal sealed class MemoryOutput : ITensorOutput, IDisposable
{
    public MemoryOutput(DType dtype, long length)
    {
        DType = dtype;
        Length = length;
        Buffer = new NativeArray<byte>(length * dtype.SizeOf());
    }

    public NativeArray<byte> Buffer { get; }
    public DType DType { get; }
    public long Length { get; }
    public unsafe RawTensor Tensor => new(Buffer.Pointer, DType, Length);

    public void Fill(Action<RawTensor, long> produce, CancellationToken cancellation)
    {
        cancellation.ThrowIfCancellationRequested();
        if (Length > 0) produce(Tensor, 0);
    }

    public void Dispose() => Buffer.Dispose();
}
