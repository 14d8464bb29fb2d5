using Engine.Core.Numerics;

namespace Engine.Core.Safetensors;

/// <summary>One tensor's bytes, copied out of its file (see <see cref="SafetensorsFile.Read"/>). Tensors may
/// exceed 2^31 bytes, so the bytes are reached through <see cref="Slice"/> windows of at most
/// <see cref="int.MaxValue"/> bytes.</summary>
public sealed unsafe class TensorBytes : IDisposable
{
    private readonly NativeArray<byte> _bytes;

    internal TensorBytes(TensorInfo info, NativeArray<byte> bytes)
    {
        Info = info;
        _bytes = bytes;
    }

    /// <summary>The tensor the bytes are of.</summary>
    public TensorInfo Info { get; }
    /// <summary>Bytes held: the tensor's <see cref="TensorInfo.ByteLength"/>.</summary>
    public long ByteLength => Info.ByteLength;

    /// <summary>Address of the first byte, for native and GPU copies; valid until disposal.</summary>
    public byte* Pointer => _bytes.Pointer;

    /// <summary>A window of the tensor's bytes.</summary>
    public ReadOnlySpan<byte> Slice(long byteOffset, int byteCount)
    {
        // Compared without adding, so an offset near long.MaxValue cannot wrap around into range.
        if (byteOffset < 0 || byteCount < 0 || byteOffset > ByteLength - byteCount)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"window [{byteOffset}, +{byteCount}) is outside tensor '{Info.Name}' ({ByteLength} bytes)");
        return byteCount == 0 ? ReadOnlySpan<byte>.Empty : new ReadOnlySpan<byte>(Pointer + byteOffset, byteCount);
    }

    /// <summary>All bytes, for tensors under 2 GiB.</summary>
    public ReadOnlySpan<byte> Bytes => Slice(0, checked((int)ByteLength));

    /// <summary>Returns the bytes to their pool (or frees them).</summary>
    public void Dispose() => _bytes.Dispose();
}
