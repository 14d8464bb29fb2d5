using Engine.Interop.Cuda;

namespace Engine.Kernels.Cuda;

/// <summary>Host/device transfers of arbitrary (pageable, possibly memory-mapped) host memory through two
/// page-locked staging buffers: while the DMA engine copies one chunk, the CPU fills or drains the other, so
/// host copies and PCIe transfers overlap. Device buffers are kept and grown on demand.</summary>
internal sealed unsafe class DeviceStaging : IDisposable
{
    private const long Chunk = 32L << 20;

    private readonly CudaStream _stream;
    private readonly CudaPinnedBuffer[] _pinned;
    private readonly CudaEvent[] _done;
    private readonly int _threads;

    public DeviceStaging(CudaContext context, CudaStream stream, int threads)
    {
        _stream = stream;
        _threads = Math.Max(1, threads);
        _pinned = [context.AllocatePinned(Chunk), context.AllocatePinned(Chunk)];
        _done = [context.CreateEvent(), context.CreateEvent()];
        foreach (var e in _done) stream.Record(e);
    }

    /// <summary>Copies <paramref name="bytes"/> from host memory to the device buffer at <paramref name="offset"/>.
    /// Returns once the host memory may be reused (the last chunk is staged, not necessarily copied).</summary>
    public void Upload(CudaDeviceBuffer destination, long offset, byte* source, long bytes)
    {
        int slot = 0;
        for (long done = 0; done < bytes; done += Chunk, slot ^= 1)
        {
            long length = Math.Min(Chunk, bytes - done);
            _done[slot].Synchronize();
            HostCopy(_pinned[slot].Pointer, source + done, length);
            _stream.CopyToDevice(destination, offset + done, _pinned[slot].Pointer, length);
            _stream.Record(_done[slot]);
        }
    }

    /// <summary>Copies <paramref name="bytes"/> from the device buffer at <paramref name="offset"/> to host memory,
    /// after all work queued on the stream; returns when the host memory holds them.</summary>
    public void Download(byte* destination, CudaDeviceBuffer source, long offset, long bytes)
    {
        long chunks = (bytes + Chunk - 1) / Chunk;
        if (chunks == 0) return;
        Enqueue(0);
        for (long c = 0; c < chunks; c++)
        {
            if (c + 1 < chunks) Enqueue(c + 1);
            int slot = (int)(c & 1);
            _done[slot].Synchronize();
            long length = Math.Min(Chunk, bytes - c * Chunk);
            HostCopy(destination + c * Chunk, _pinned[slot].Pointer, length);
        }

        void Enqueue(long c)
        {
            int slot = (int)(c & 1);
            long length = Math.Min(Chunk, bytes - c * Chunk);
            _stream.CopyToHost(_pinned[slot].Pointer, source, offset + c * Chunk, length);
            _stream.Record(_done[slot]);
        }
    }

    /// <summary>A small copy through the first staging buffer (histograms, flags); synchronous.</summary>
    public void DownloadSmall(void* destination, CudaDeviceBuffer source, long bytes)
    {
        if (bytes > Chunk) throw new ArgumentOutOfRangeException(nameof(bytes));
        _done[0].Synchronize();
        _done[1].Synchronize();
        _stream.CopyToHost(_pinned[0].Pointer, source, 0, bytes);
        _stream.Synchronize();
        Buffer.MemoryCopy(_pinned[0].Pointer, destination, bytes, bytes);
    }

    private void HostCopy(byte* destination, byte* source, long bytes) => HostMemoryCopy.Copy(destination, source, bytes, _threads);

    public void Dispose()
    {
        foreach (var e in _done) e.Dispose();
        foreach (var p in _pinned) p.Dispose();
    }
}

/// <summary>A device buffer that keeps its allocation between calls and grows (never shrinks) on demand. An open
/// kept importance holds the slots it keeps its data in: asking a held slot for a buffer is then an error rather
/// than a silent overwrite.</summary>
internal sealed class DeviceSlot(CudaContext context) : IDisposable
{
    private CudaDeviceBuffer? _buffer;

    /// <summary>Set while a kept importance owns the buffer.</summary>
    public bool Held { get; set; }

    /// <summary>A buffer of at least <paramref name="bytes"/> bytes (contents undefined).</summary>
    public CudaDeviceBuffer Ensure(long bytes)
    {
        if (Held) throw new InvalidOperationException("cuda: this kernel needs device memory that an open kept importance holds; dispose the importance first");
        if (_buffer != null && _buffer.Bytes >= bytes) return _buffer;
        _buffer?.Dispose();
        _buffer = null;
        _buffer = context.Allocate(Math.Max(bytes, 256));
        return _buffer;
    }

    public void Dispose() => _buffer?.Dispose();
}
