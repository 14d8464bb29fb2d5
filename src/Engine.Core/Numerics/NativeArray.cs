using System.Runtime.InteropServices;

namespace Engine.Core.Numerics;

/// <summary>An unmanaged, 64-byte aligned array of <typeparamref name="T"/> with a 64-bit length: tensors
/// may exceed 2^31 elements and must not sit on the managed heap (no GC copies, pinnable for GPUs).</summary>
public sealed unsafe class NativeArray<T> : IDisposable where T : unmanaged
{
    private T* _pointer;
    private readonly Action? _release;

    /// <summary>An uninitialised array of <paramref name="length"/> elements (memory is not cleared: the first write touches each page).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="length"/> is negative.</exception>
    /// <exception cref="OverflowException">The byte size overflows.</exception>
    public NativeArray(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        _pointer = (T*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, checked(length * sizeof(T))), 64);
    }

    /// <summary>A view of memory owned elsewhere: disposing it frees nothing and calls <paramref name="release"/>.</summary>
    private NativeArray(T* pointer, long length, Action release)
    {
        _pointer = pointer;
        Length = length;
        _release = release;
    }

    /// <summary>The first <paramref name="length"/> elements of <paramref name="owner"/> as an array of their own;
    /// disposing the view calls <paramref name="release"/> and leaves the owner's memory alone.</summary>
    public static NativeArray<T> View(NativeArray<T> owner, long length, Action release)
    {
        if (length < 0 || length > owner.Length) throw new ArgumentOutOfRangeException(nameof(length));
        return new NativeArray<T>(owner.Pointer, length, release);
    }

    /// <summary>Elements.</summary>
    public long Length { get; }
    /// <summary><c>Length * sizeof(T)</c>.</summary>
    public long ByteLength => Length * sizeof(T);

    /// <summary>The first element, 64-byte aligned; valid until disposal.</summary>
    /// <exception cref="ObjectDisposedException">The array was disposed.</exception>
    public T* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_pointer == null, this);
            return _pointer;
        }
    }

    /// <summary>A window of at most <see cref="int.MaxValue"/> elements.</summary>
    public Span<T> Slice(long start, int length)
    {
        if (start < 0 || length < 0 || start + length > Length) throw new ArgumentOutOfRangeException(nameof(start));
        return new Span<T>(Pointer + start, length);
    }

    /// <summary>The whole array, for arrays under 2^31 elements.</summary>
    public Span<T> Span => Slice(0, checked((int)Length));

    /// <summary>The array as a typed raw tensor (F32 for float, BF16/F16 need <see cref="AsRaw(DType)"/>).</summary>
    public RawTensor AsRaw(DType dtype)
    {
        if (dtype.SizeOf() != sizeof(T)) throw new ArgumentException($"{dtype} does not match a {sizeof(T)}-byte element", nameof(dtype));
        return new RawTensor(Pointer, dtype, Length);
    }

    /// <summary>Frees the memory (a view calls its release instead); later use of <see cref="Pointer"/> throws.</summary>
    public void Dispose()
    {
        if (_pointer == null) return;
        if (_release != null) _release();
        else NativeMemory.AlignedFree(_pointer);
        _pointer = null;
    }
}
