using Engine.Interop.Cuda;
using Engine.Kernels.Device;

namespace Engine.Kernels.Cuda;

/// <summary>The CUDA backend's staging (<see cref="DoubleBufferedStaging{TDevice}"/>): both buffers' copies run on
/// the backend's stream, each buffer's last copy marked by an event. Device buffers are kept and grown on demand
/// (<see cref="DeviceSlot"/>).</summary>
internal sealed unsafe class DeviceStaging : DoubleBufferedStaging<CudaDeviceBuffer>
{
    private readonly CudaStream _stream;
    private readonly CudaPinnedBuffer[] _pinned;
    private readonly CudaEvent[] _done;

    public DeviceStaging(CudaContext context, CudaStream stream, int threads) : base(32L << 20, threads)
    {
        _stream = stream;
        _pinned = [context.AllocatePinned(Chunk), context.AllocatePinned(Chunk)];
        _done = [context.CreateEvent(), context.CreateEvent()];
        foreach (var e in _done) stream.Record(e);
    }

    /// <summary>Copies <paramref name="bytes"/> from host memory to the device buffer at <paramref name="offset"/>.
    /// Returns once the host memory may be reused (the last chunk is staged, not necessarily copied).</summary>
    public void Upload(CudaDeviceBuffer destination, long offset, byte* source, long bytes) => UploadChunks(destination, offset, source, bytes);

    /// <summary>Copies <paramref name="bytes"/> from the device buffer at <paramref name="offset"/> to host memory,
    /// after all work queued on the stream; returns when the host memory holds them.</summary>
    public void Download(byte* destination, CudaDeviceBuffer source, long offset, long bytes) => DownloadChunks(destination, source, offset, bytes);

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

    private protected override byte* Pinned(int slot) => _pinned[slot].Pointer;

    private protected override void WaitFor(int slot) => _done[slot].Synchronize();

    private protected override void QueueToDevice(CudaDeviceBuffer destination, long offset, int slot, long length)
    {
        _stream.CopyToDevice(destination, offset, _pinned[slot].Pointer, length);
        _stream.Record(_done[slot]);
    }

    private protected override void QueueToHost(int slot, CudaDeviceBuffer source, long offset, long length)
    {
        _stream.CopyToHost(_pinned[slot].Pointer, source, offset, length);
        _stream.Record(_done[slot]);
    }

    public override void Dispose()
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
