using System.IO.MemoryMappedFiles;

namespace Engine.Core.Safetensors;

/// <summary>A read-only, memory-mapped view of one tensor's bytes. Tensors may exceed 2^31 bytes, so the
/// bytes are reached through <see cref="Slice"/> windows of at most <see cref="int.MaxValue"/> bytes.</summary>
public sealed unsafe class TensorView : IDisposable
{
    private readonly MemoryMappedViewAccessor? _accessor;
    private byte* _pointer;

    internal TensorView(TensorInfo info, MemoryMappedViewAccessor accessor)
    {
        Info = info;
        _accessor = accessor;
        byte* p = null;
        accessor.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _pointer = p + accessor.PointerOffset;
    }

    private TensorView(TensorInfo info) => Info = info;

    internal static TensorView Empty(TensorInfo info) => new(info);

    public TensorInfo Info { get; }
    public long ByteLength => Info.ByteLength;

    /// <summary>Address of the first byte, for native and GPU copies; valid until disposal.</summary>
    public byte* Pointer => _pointer;

    /// <summary>A window of the tensor's bytes.</summary>
    public ReadOnlySpan<byte> Slice(long byteOffset, int byteCount)
    {
        ObjectDisposedException.ThrowIf(_accessor != null && _pointer == null, this);
        // Compared without adding, so an offset near long.MaxValue cannot wrap around into range.
        if (byteOffset < 0 || byteCount < 0 || byteOffset > ByteLength - byteCount)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"window [{byteOffset}, +{byteCount}) is outside tensor '{Info.Name}' ({ByteLength} bytes)");
        return byteCount == 0 ? ReadOnlySpan<byte>.Empty : new ReadOnlySpan<byte>(_pointer + byteOffset, byteCount);
    }

    /// <summary>All bytes, for tensors under 2 GiB.</summary>
    public ReadOnlySpan<byte> Bytes => Slice(0, checked((int)ByteLength));

    public void Dispose()
    {
        if (_accessor == null || _pointer == null) return;
        _pointer = null;
        _accessor.SafeMemoryMappedViewHandle.ReleasePointer();
        _accessor.Dispose();
    }
}
