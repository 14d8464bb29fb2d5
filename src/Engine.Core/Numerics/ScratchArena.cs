namespace Engine.Core.Numerics;

/// <summary>One float32 scratch buffer reused across the tensors a worker computes in turn. A fresh large
/// allocation per tensor costs a page fault and a kernel zero-fill per 4 KiB on first touch (glibc hands large
/// blocks back to the system on free), about a tenth of a 0.5B Arcee Fusion merge on two cores; reusing one
/// buffer, grown to the largest tensor, pays that once. One rent at a time: a second concurrent rent gets a
/// fresh array.</summary>
public sealed class ScratchArena : IDisposable
{
    private NativeArray<float>? _buffer;
    private bool _rented;

    /// <summary>An array of exactly <paramref name="length"/> floats (contents undefined); dispose it to give it back.</summary>
    public NativeArray<float> RentFloats(long length)
    {
        if (_rented) return new NativeArray<float>(length);
        if (_buffer == null || _buffer.Length < length)
        {
            _buffer?.Dispose();
            _buffer = null;
            _buffer = new NativeArray<float>(length);
        }
        _rented = true;
        return NativeArray<float>.View(_buffer, length, () => _rented = false);
    }

    public void Dispose()
    {
        _buffer?.Dispose();
        _buffer = null;
    }
}
