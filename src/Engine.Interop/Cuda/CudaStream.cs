namespace Engine.Interop.Cuda;

/// <summary>An ordered queue of copies and kernel launches. Async copies overlap with host work only when
/// the host side is page-locked (<see cref="CudaPinnedBuffer"/> or <see cref="CudaHostRegistration"/>).</summary>
public sealed unsafe class CudaStream : IDisposable
{
    internal CudaStream(CudaStreamHandle handle) => Handle = handle;

    internal CudaStreamHandle Handle { get; }

    public void CopyToDevice(CudaDeviceBuffer destination, long destinationOffset, void* source, long bytes)
    {
        if (bytes == 0) return;
        CheckRange(destination, destinationOffset, bytes);
        CudaException.Check(CudaDriverImports.cuMemcpyHtoDAsync(destination.Address + (ulong)destinationOffset, source, (nuint)bytes, Handle));
    }

    public void CopyToHost(void* destination, CudaDeviceBuffer source, long sourceOffset, long bytes)
    {
        if (bytes == 0) return;
        CheckRange(source, sourceOffset, bytes);
        CudaException.Check(CudaDriverImports.cuMemcpyDtoHAsync(destination, source.Address + (ulong)sourceOffset, (nuint)bytes, Handle));
    }

    public void CopyOnDevice(CudaDeviceBuffer destination, CudaDeviceBuffer source, long bytes)
    {
        CheckRange(destination, 0, bytes);
        CheckRange(source, 0, bytes);
        CudaException.Check(CudaDriverImports.cuMemcpyDtoDAsync(destination.Address, source.Address, (nuint)bytes, Handle));
    }

    public void Fill(CudaDeviceBuffer destination, byte value, long bytes)
    {
        CheckRange(destination, 0, bytes);
        CudaException.Check(CudaDriverImports.cuMemsetD8Async(destination.Address, value, (nuint)bytes, Handle));
    }

    public void Record(CudaEvent e) => CudaException.Check(CudaDriverImports.cuEventRecord(e.Handle, Handle));

    public void Wait(CudaEvent e) => CudaException.Check(CudaDriverImports.cuStreamWaitEvent(Handle, e.Handle, 0));

    public void Synchronize() => CudaException.Check(CudaDriverImports.cuStreamSynchronize(Handle));

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

    public void Synchronize() => CudaException.Check(CudaDriverImports.cuEventSynchronize(Handle));

    /// <summary>Milliseconds between two recorded, completed events.</summary>
    public static float Elapsed(CudaEvent start, CudaEvent end)
    {
        CudaException.Check(CudaDriverImports.cuEventElapsedTime(out float ms, start.Handle, end.Handle));
        return ms;
    }

    public void Dispose() => Handle.Dispose();
}
