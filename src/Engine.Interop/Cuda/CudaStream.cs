namespace Engine.Interop.Cuda;

/// <summary>An ordered queue of copies and kernel launches. Async copies overlap with host work only when
/// the host side is page-locked (<see cref="CudaPinnedBuffer"/> or <see cref="CudaHostRegistration"/>).</summary>
public sealed unsafe class CudaStream : IDisposable
{
    internal CudaStream(CudaStreamHandle handle) => Handle = handle;

    internal CudaStreamHandle Handle { get; }

    /// <summary>Queues a copy of <paramref name="bytes"/> from host <paramref name="source"/> to <paramref name="destination"/> at
    /// <paramref name="destinationOffset"/>; asynchronous only when the host memory is page-locked.</summary>
    /// <exception cref="CudaException">The driver call failed.</exception>
    public void CopyToDevice(CudaDeviceBuffer destination, long destinationOffset, void* source, long bytes)
    {
        if (bytes == 0) return;
        CheckRange(destination, destinationOffset, bytes);
        CudaException.Check(CudaDriverImports.cuMemcpyHtoDAsync(destination.Address + (ulong)destinationOffset, source, (nuint)bytes, Handle));
    }

    /// <summary>Queues a copy of <paramref name="bytes"/> from <paramref name="source"/> at <paramref name="sourceOffset"/> to host
    /// <paramref name="destination"/>; the data is there once the stream is synchronised.</summary>
    /// <exception cref="CudaException">The driver call failed.</exception>
    public void CopyToHost(void* destination, CudaDeviceBuffer source, long sourceOffset, long bytes)
    {
        if (bytes == 0) return;
        CheckRange(source, sourceOffset, bytes);
        CudaException.Check(CudaDriverImports.cuMemcpyDtoHAsync(destination, source.Address + (ulong)sourceOffset, (nuint)bytes, Handle));
    }

    /// <summary>Queues a device-to-device copy of the first <paramref name="bytes"/> of <paramref name="source"/>.</summary>
    /// <exception cref="CudaException">The driver call failed.</exception>
    public void CopyOnDevice(CudaDeviceBuffer destination, CudaDeviceBuffer source, long bytes)
    {
        CheckRange(destination, 0, bytes);
        CheckRange(source, 0, bytes);
        CudaException.Check(CudaDriverImports.cuMemcpyDtoDAsync(destination.Address, source.Address, (nuint)bytes, Handle));
    }

    /// <summary>Queues setting the first <paramref name="bytes"/> of <paramref name="destination"/> to <paramref name="value"/>.</summary>
    /// <exception cref="CudaException">The driver call failed.</exception>
    public void Fill(CudaDeviceBuffer destination, byte value, long bytes)
    {
        CheckRange(destination, 0, bytes);
        CudaException.Check(CudaDriverImports.cuMemsetD8Async(destination.Address, value, (nuint)bytes, Handle));
    }

    /// <summary>Records <paramref name="e"/> at this point of the stream.</summary>
    public void Record(CudaEvent e) => CudaException.Check(CudaDriverImports.cuEventRecord(e.Handle, Handle));

    /// <summary>Makes later work of this stream wait for <paramref name="e"/> (no host wait).</summary>
    public void Wait(CudaEvent e) => CudaException.Check(CudaDriverImports.cuStreamWaitEvent(Handle, e.Handle, 0));

    /// <summary>Waits on the host until the stream's work is done.</summary>
    /// <exception cref="CudaException">Queued work failed.</exception>
    public void Synchronize() => CudaException.Check(CudaDriverImports.cuStreamSynchronize(Handle));

    /// <summary>Destroys the stream (work already queued still completes).</summary>
    public void Dispose() => Handle.Dispose();

    private static void CheckRange(CudaDeviceBuffer buffer, long offset, long bytes)
    {
        if (offset < 0 || bytes < 0 || offset + bytes > buffer.Bytes)
            throw new ArgumentOutOfRangeException(nameof(bytes), $"[{offset}, {offset + bytes}) outside a {buffer.Bytes}-byte device buffer");
    }
}

/// <summary>A point in a stream, for ordering between streams and for GPU-side timing.</summary>
public sealed class CudaEvent : IDisposable
{
    internal CudaEvent(CudaEventHandle handle) => Handle = handle;

    internal CudaEventHandle Handle { get; }

    /// <summary>Waits on the host until the event has completed.</summary>
    public void Synchronize() => CudaException.Check(CudaDriverImports.cuEventSynchronize(Handle));

    /// <summary>Milliseconds between two recorded, completed events.</summary>
    public static float Elapsed(CudaEvent start, CudaEvent end)
    {
        CudaException.Check(CudaDriverImports.cuEventElapsedTime(out float ms, start.Handle, end.Handle));
        return ms;
    }

    /// <summary>Destroys the event.</summary>
    public void Dispose() => Handle.Dispose();
}
