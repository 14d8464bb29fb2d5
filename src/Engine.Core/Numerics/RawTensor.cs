namespace Engine.Core.Numerics;

/// <summary>A flat run of elements of one dtype in memory the caller keeps alive (a tensor read from its file or a
/// <see cref="NativeArray{T}"/>). The kernels read and write tensors through it whatever the dtype.</summary>
public readonly unsafe struct RawTensor
{
    /// <summary>A view of <paramref name="length"/> elements of <paramref name="dtype"/> at <paramref name="pointer"/>; nothing is copied or owned.</summary>
    public RawTensor(void* pointer, DType dtype, long length)
    {
        Pointer = (byte*)pointer;
        DType = dtype;
        Length = length;
    }

    /// <summary>The first byte.</summary>
    public byte* Pointer { get; }
    /// <summary>The element type.</summary>
    public DType DType { get; }

    /// <summary>Elements.</summary>
    public long Length { get; }

    /// <summary><c>Length * DType.SizeOf()</c>.</summary>
    public long ByteLength => Length * DType.SizeOf();

    /// <summary>Elements [start, start + count) as bytes.</summary>
    public ReadOnlySpan<byte> Bytes(long start, int count)
    {
        if (start < 0 || count < 0 || start + count > Length) throw new ArgumentOutOfRangeException(nameof(start));
        int size = DType.SizeOf();
        return new ReadOnlySpan<byte>(Pointer + start * size, checked(count * size));
    }

    /// <summary>Elements [start, start + count) as writable bytes (for tensors the caller owns).</summary>
    public Span<byte> WritableBytes(long start, int count)
    {
        if (start < 0 || count < 0 || start + count > Length) throw new ArgumentOutOfRangeException(nameof(start));
        int size = DType.SizeOf();
        return new Span<byte>(Pointer + start * size, checked(count * size));
    }

    /// <summary>Converts elements [start, start + destination.Length) to float32.</summary>
    public void ReadSingles(long start, Span<float> destination) =>
        DTypeConversion.ToSingle(Bytes(start, destination.Length), DType, destination);

    /// <summary>Elements [start, start + length) as a tensor of their own.</summary>
    public RawTensor Slice(long start, long length)
    {
        if (start < 0 || length < 0 || start + length > Length) throw new ArgumentOutOfRangeException(nameof(start));
        return new RawTensor(Pointer + start * DType.SizeOf(), DType, length);
    }

    /// <summary>Converts float32 values into elements [start, start + source.Length).</summary>
    public void WriteSingles(long start, ReadOnlySpan<float> source)
    {
        if (start < 0 || start + source.Length > Length) throw new ArgumentOutOfRangeException(nameof(start));
        int size = DType.SizeOf();
        DTypeConversion.FromSingle(source, DType, new Span<byte>(Pointer + start * size, source.Length * size));
    }

    /// <summary>The first <paramref name="length"/> elements (for row-major truncation to common rows).</summary>
    public RawTensor Prefix(long length)
    {
        if (length < 0 || length > Length) throw new ArgumentOutOfRangeException(nameof(length));
        return new RawTensor(Pointer, DType, length);
    }
}
