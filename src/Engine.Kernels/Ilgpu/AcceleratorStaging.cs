using Engine.Core.Diagnostics;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels.Ilgpu;

/// <summary>Host/accelerator transfers of arbitrary (pageable, possibly memory-mapped) host memory through two
/// page-locked staging buffers, each with a stream of its own: while one buffer's chunk is copied by the DMA
/// engine, the CPU fills or drains the other, so host copies and PCIe transfers overlap (the ILGPU twin of the
/// CUDA backend's DeviceStaging; ILGPU's own copies from pageable memory are synchronous and staged by the
/// driver). Copies are ordered after the work queued on the accelerator's default stream, and work queued there
/// afterwards sees them only after <see cref="Flush"/>.</summary>
internal sealed unsafe class AcceleratorStaging : IDisposable
{
    /// <summary>Bytes per staging buffer on a GPU.</summary>
    public const long DefaultChunk = 32L << 20;

    private readonly Accelerator _accelerator;
    private readonly PageLockedArray1D<byte>[] _pinned;
    private readonly AcceleratorStream[] _streams;
    private readonly int _threads;

    public AcceleratorStaging(Accelerator accelerator, int threads, long chunk = DefaultChunk)
    {
        _accelerator = accelerator;
        _threads = Math.Max(1, threads);
        Chunk = chunk;
        _pinned = [accelerator.AllocatePageLocked1D<byte>(chunk), accelerator.AllocatePageLocked1D<byte>(chunk)];
        _streams = [accelerator.CreateStream(), accelerator.CreateStream()];
    }

    public long Chunk { get; }

    /// <summary>Where upload and download spans go; null when no trace is being taken.</summary>
    public ProfileTrace? Trace { get; set; }

    /// <summary>Queues the copy of <c>destination.Length</c> bytes from <paramref name="source"/>; returns once the host
    /// memory may be reused (the last chunk staged, not necessarily copied). Call <see cref="Flush"/> before a
    /// kernel reads <paramref name="destination"/>.</summary>
    public void Upload(ArrayView<byte> destination, byte* source)
    {
        long bytes = destination.Length;
        using var span = Trace.Span("upload", "upload", $"{bytes} bytes");
        _accelerator.DefaultStream.Synchronize();  // the buffer may still be read by earlier kernels
        int slot = 0;
        for (long done = 0; done < bytes; done += Chunk, slot ^= 1)
        {
            long length = Math.Min(Chunk, bytes - done);
            _streams[slot].Synchronize();
            fixed (byte* pinned = _pinned[slot].Span) HostCopy(pinned, source + done, length);
            destination.SubView(done, length).CopyFrom(_streams[slot], _pinned[slot].ArrayView.SubView(0, length));
        }
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
        long bytes = source.Length;
        long chunks = (bytes + Chunk - 1) / Chunk;
        if (chunks == 0) return;
        _accelerator.DefaultStream.Synchronize();
        Flush();
        using var span = Trace.Span("download", "download", $"{bytes} bytes");
        Enqueue(0);
        for (long c = 0; c < chunks; c++)
        {
            if (c + 1 < chunks) Enqueue(c + 1);
            int slot = (int)(c & 1);
            _streams[slot].Synchronize();
            long length = Math.Min(Chunk, bytes - c * Chunk);
            fixed (byte* pinned = _pinned[slot].Span) HostCopy(destination + c * Chunk, pinned, length);
        }

        void Enqueue(long c)
        {
            int slot = (int)(c & 1);
            long length = Math.Min(Chunk, bytes - c * Chunk);
            _pinned[slot].ArrayView.SubView(0, length).CopyFrom(_streams[slot], source.SubView(c * Chunk, length));
        }
    }

    /// <summary><see cref="Download(byte*, ArrayView{byte})"/> into a float array.</summary>
    public void Download(float* destination, ArrayView<float> source) => Download((byte*)destination, source.Cast<byte>());

    private void HostCopy(byte* destination, byte* source, long bytes) => HostMemoryCopy.Copy(destination, source, bytes, _threads);

    public void Dispose()
    {
        // An upload that failed part-way may still be copying from a staging buffer.
        try { Flush(); } catch (Exception) { }
        foreach (var s in _streams) s.Dispose();
        foreach (var p in _pinned) p.Dispose();
    }
}
