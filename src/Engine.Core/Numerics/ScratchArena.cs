namespace Engine.Core.Numerics;

/// <summary>Scratch buffers reused across the tensors a worker computes in turn: one of float32 (importance,
/// |delta|) and one of bytes (the output chunk). A fresh large allocation per tensor costs a page fault and a
/// kernel zero-fill per 4 KiB on first touch (glibc hands large blocks back to the system on free), about a tenth
/// of a 0.5B Arcee Fusion merge on two cores; reusing each buffer, grown to the largest request, pays that once.
/// One rent of each kind at a time: a second concurrent rent gets a fresh array. Input tensors, of which a
/// merge holds several at once, each get a slot of their own.</summary>
public sealed class ScratchArena : IDisposable
{
    private readonly Slot<float> _floats = new();
    private readonly Slot<byte> _bytes = new();
    private readonly List<Slot<byte>> _inputs = new();

    /// <summary>An array of exactly <paramref name="length"/> floats (contents undefined); dispose it to give it back.</summary>
    public NativeArray<float> RentFloats(long length) => _floats.Rent(length);

    /// <summary>An array of exactly <paramref name="length"/> bytes (contents undefined); dispose it to give it back.</summary>
    public NativeArray<byte> RentBytes(long length) => _bytes.Rent(length);

    /// <summary>Bytes for one input tensor read from its file: the first free input slot, or a new one.</summary>
    public NativeArray<byte> RentInput(long length)
    {
        var slot = _inputs.FirstOrDefault(s => !s.Rented);
        if (slot == null) _inputs.Add(slot = new Slot<byte>());
        return slot.Rent(length);
    }

    /// <summary>Frees every pooled buffer; buffers still rented must not be used after.</summary>
    public void Dispose()
    {
        _floats.Dispose();
        _bytes.Dispose();
        foreach (var slot in _inputs) slot.Dispose();
    }

    private sealed class Slot<T> : IDisposable where T : unmanaged
    {
        private NativeArray<T>? _buffer;
        private bool _rented;

        public bool Rented => _rented;

        public NativeArray<T> Rent(long length)
        {
            if (_rented) return new NativeArray<T>(length);
            if (_buffer == null || _buffer.Length < length)
            {
                _buffer?.Dispose();
                _buffer = null;
                _buffer = new NativeArray<T>(length);
            }
            _rented = true;
            return NativeArray<T>.View(_buffer, length, () => _rented = false);
        }

        public void Dispose()
        {
            _buffer?.Dispose();
            _buffer = null;
        }
    }
}
