
namespace Engine.Interop.Cuda;

/// <summary>A CUDA context on one GPU: the owner of every allocation, module and stream made through it.
/// The driver keeps the "current context" per thread, so methods make it current before they call; callers
/// may use one context from any thread, one call at a time.</summary>
public sealed unsafe class CudaContext : IDisposable
{
    private readonly CudaContextHandle _handle;

    private CudaContext(CudaContextHandle handle, int ordinal, string name, int major, int minor, int multiprocessors, long totalMemory)
    {
        _handle = handle;
        Ordinal = ordinal;
        Name = name;
        ComputeCapability = (major, minor);
        Multiprocessors = multiprocessors;
        TotalMemory = totalMemory;
    }

    /// <summary>The device's CUDA ordinal (among those <c>CUDA_VISIBLE_DEVICES</c> leaves visible).</summary>
    public int Ordinal { get; }
    /// <summary>The device name the driver reports (such as <c>NVIDIA H100 80GB HBM3</c>).</summary>
    public string Name { get; }
    /// <summary>The compute capability, <c>sm_MajorMinor</c>.</summary>
    public (int Major, int Minor) ComputeCapability { get; }
    /// <summary>Streaming multiprocessors.</summary>
    public int Multiprocessors { get; }
    /// <summary>Device memory in bytes.</summary>
    public long TotalMemory { get; }

    /// <summary>Creates a context on GPU <paramref name="ordinal"/>.</summary>
    /// <exception cref="CudaException">no driver or GPU, or the driver refused.</exception>
    public static CudaContext Create(int ordinal)
    {
        var availability = CudaLibrary.Availability;
        if (!availability.IsAvailable) throw new CudaException(CudaResult.NoDevice, $"CUDA is not available: {availability.Reason}");
        if (ordinal < 0 || ordinal >= availability.DeviceCount)
            throw new CudaException(CudaResult.InvalidDevice, $"cuda:{ordinal} (this machine has {availability.DeviceCount} GPU(s))");
        CudaException.Check(CudaDriverImports.cuDeviceGet(out int device, ordinal));
        CudaException.Check(CudaDriverImports.cuDeviceGetAttribute(out int major, CudaDeviceAttribute.ComputeCapabilityMajor, device));
        CudaException.Check(CudaDriverImports.cuDeviceGetAttribute(out int minor, CudaDeviceAttribute.ComputeCapabilityMinor, device));
        CudaException.Check(CudaDriverImports.cuDeviceGetAttribute(out int sms, CudaDeviceAttribute.MultiprocessorCount, device));
        CudaException.Check(CudaDriverImports.cuDeviceTotalMem(out nuint total, device));
        CudaException.Check(CudaDriverImports.cuCtxCreate(out var handle, 0, device));
        return new CudaContext(handle, ordinal, CudaLibrary.NameOf(device), major, minor, sms, (long)total);
    }

    /// <summary>Makes this context current on the calling thread.</summary>
    public void MakeCurrent() => CudaException.Check(CudaDriverImports.cuCtxSetCurrent(_handle));

    /// <summary>Waits until every stream of the context is idle (<c>cuCtxSynchronize</c>).</summary>
    /// <exception cref="CudaException">A kernel or copy failed (asynchronous errors surface here).</exception>
    public void Synchronize()
    {
        MakeCurrent();
        CudaException.Check(CudaDriverImports.cuCtxSynchronize());
    }

    /// <summary>Loads a NUL-terminated PTX image (JIT-compiled by the driver for this GPU).</summary>
    public CudaModule LoadModule(ReadOnlySpan<byte> ptx)
    {
        MakeCurrent();
        var image = new byte[ptx.Length + 1];
        ptx.CopyTo(image);
        fixed (byte* p = image)
        {
            CudaException.Check(CudaDriverImports.cuModuleLoadData(out var module, p));
            return new CudaModule(module);
        }
    }

    /// <summary>A new non-blocking stream (it does not synchronise with the legacy default stream).</summary>
    /// <exception cref="CudaException">The driver call failed.</exception>
    public CudaStream CreateStream()
    {
        MakeCurrent();
        CudaException.Check(CudaDriverImports.cuStreamCreate(out var stream, 1 /* CU_STREAM_NON_BLOCKING */));
        return new CudaStream(stream);
    }

    /// <summary>A new event with timing enabled.</summary>
    /// <exception cref="CudaException">The driver call failed.</exception>
    public CudaEvent CreateEvent()
    {
        MakeCurrent();
        CudaException.Check(CudaDriverImports.cuEventCreate(out var e, 0));
        return new CudaEvent(e);
    }

    /// <summary><paramref name="bytes"/> of device memory, uninitialised.</summary>
    /// <exception cref="CudaException">The allocation failed (<see cref="CudaResult.OutOfMemory"/>).</exception>
    public CudaDeviceBuffer Allocate(long bytes)
    {
        MakeCurrent();
        CudaException.Check(CudaDriverImports.cuMemAlloc(out ulong pointer, (nuint)Math.Max(1, bytes)));
        return new CudaDeviceBuffer(pointer, bytes);
    }

    /// <summary>Page-locked host memory: the only host memory async copies overlap with.</summary>
    public CudaPinnedBuffer AllocatePinned(long bytes)
    {
        MakeCurrent();
        CudaException.Check(CudaDriverImports.cuMemAllocHost(out void* pointer, (nuint)Math.Max(1, bytes)));
        return new CudaPinnedBuffer(pointer, bytes);
    }

    /// <summary>Page-locks existing host memory (e.g. a caller's array) until the returned registration is disposed.</summary>
    public CudaHostRegistration Register(void* pointer, long bytes)
    {
        MakeCurrent();
        CudaException.Check(CudaDriverImports.cuMemHostRegister(pointer, (nuint)bytes, 0));
        return new CudaHostRegistration(pointer);
    }

    /// <summary>Free and total device memory in bytes, as <c>cuMemGetInfo</c> reports them now.</summary>
    public (long Free, long Total) MemoryInfo()
    {
        MakeCurrent();
        CudaException.Check(CudaDriverImports.cuMemGetInfo(out nuint free, out nuint total));
        return ((long)free, (long)total);
    }

    /// <summary>Destroys the context, freeing everything allocated in it.</summary>
    public void Dispose() => _handle.Dispose();
}
