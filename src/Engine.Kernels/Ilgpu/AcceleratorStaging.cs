using Engine.Core.Diagnostics;
using ILGPU;
using ILGPU.Runtime;
using Engine.Kernels.Device;

namespace Engine.Kernels.Ilgpu;

/// <summary>The ILGPU backend's staging (<see cref="DoubleBufferedStaging{TDevice}"/>): each staging buffer has a
/// stream of its own (ILGPU's own copies from pageable memory are synchronous and staged by the driver). Copies are
/// ordered after the work queued on the accelerator's default stream, and work queued there afterwards sees them
/// only after <see cref="Flush"/>.</summary>
internal sealed unsafe class AcceleratorStaging : DoubleBufferedStaging<ArrayView<byte>>
{
    /// <summary>Bytes per staging buffer on a GPU.</summary>
    public const long DefaultChunk = 32L << 20;

    private readonly Accelerator _accelerator;
    private readonly PageLockedArray1D<byte>[] _pinned;
    private readonly byte*[] _pointers;
    private readonly AcceleratorStream[] _streams;

    public AcceleratorStaging(Accelerator accelerator, int threads, long chunk = DefaultChunk) : base(chunk, threads)
    {
        _accelerator = accelerator;
        _pinned = [accelerator.AllocatePageLocked1D<byte>(chunk), accelerator.AllocatePageLocked1D<byte>(chunk)];
        // ILGPU pins a page-locked array for its lifetime (the GC never moves it): its address outlives the fixed statement.
        _pointers = new byte*[2];
        for (int i = 0; i < 2; i++)
            fixed (byte* p = _pinned[i].Span) _pointers[i] = p;
        _streams = [accelerator.CreateStream(), accelerator.CreateStream()];
    }

    /// <summary>Where upload and download spans go; null when no trace is being taken.</summary>
    public ProfileTrace? Trace { get; set; }

    /// <summary>Queues the copy of <c>destination.Length</c> bytes from <paramref name="source"/>; returns once the host
    /// memory may be reused (the last chunk staged, not necessarily copied). Call <see cref="Flush"/> before a
    /// kernel reads <paramref name="destination"/>.</summary>
    public void Upload(ArrayView<byte> destination, byte* source)
    {
        using var span = Trace.Span("upload", "upload", $"{destination.Length} bytes");
        _accelerator.DefaultStream.Synchronize();  // the buffer may still be read by earlier kernels
        UploadChunks(destination, 0, source, destination.Length);
    }

    /// <summary><see cref="Upload(ArrayView{byte}, byte*)"/> of a float array.</summary>
    public void Upload(ArrayView<float> destination, float* source) => Upload(destination.Cast<byte>(), (byte*)source);

    /// <summary>Waits for every queued upload.</summary>
    public void Flush()
    {
        foreach (var s in _streams) s.Synchronize();
    }

    /// <summary>Copies <c>source.Length</c> bytes to <paramref name="destination"/> after the work queued on the default
    /// stream; returns when the host memory holds them.</summary>
    public void Download(byte* destination, ArrayView<byte> source)
    {
        if (source.Length == 0) return;
        _accelerator.DefaultStream.Synchronize();
        Flush();
        using var span = Trace.Span("download", "download", $"{source.Length} bytes");
        DownloadChunks(destination, source, 0, source.Length);
    }

    /// <summary><see cref="Download(byte*, ArrayView{byte})"/> into a float array.</summary>
    public void Download(float* destination, ArrayView<float> source) => Download((byte*)destination, source.Cast<byte>());

    private protected override byte* Pinned(int slot) => _pointers[slot];

    private protected override void WaitFor(int slot) => _streams[slot].Synchronize();

    private protected override void QueueToDevice(ArrayView<byte> destination, long offset, int slot, long length) =>
        destination.SubView(offset, length).CopyFrom(_streams[slot], _pinned[slot].ArrayView.SubView(0, length));

    private protected override void QueueToHost(int slot, ArrayView<byte> source, long offset, long length) =>
        _pinned[slot].ArrayView.SubView(0, length).CopyFrom(_streams[slot], source.SubView(offset, length));

    public override void Dispose()
    {
        // An upload that failed part-way may still be copying from a staging buffer.
        try { Flush(); } catch (Exception) { }
        foreach (var s in _streams) s.Dispose();
        foreach (var p in _pinned) p.Dispose();
    }
}
