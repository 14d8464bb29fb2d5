namespace Engine.Interop.Cuda;

/// <summary>A loaded PTX module and the kernels looked up in it.</summary>
public sealed unsafe class CudaModule : IDisposable
{
    private readonly CudaModuleHandle _handle;

    internal CudaModule(CudaModuleHandle handle) => _handle = handle;

    /// <summary>The <c>extern "C"</c> kernel called <paramref name="name"/>.</summary>
    public CudaKernel GetKernel(string name)
    {
        CudaException.Check(CudaDriverImports.cuModuleGetFunction(out nint function, _handle, name));
        return new CudaKernel(function, name, this);
    }

    /// <summary>Unloads the module; its kernels are invalid after.</summary>
    public void Dispose() => _handle.Dispose();
}

/// <summary>A kernel function; valid while its module is loaded (functions are not separately freed).</summary>
public sealed unsafe class CudaKernel
{
    private readonly nint _function;
    private readonly CudaModule _module;

    internal CudaKernel(nint function, string name, CudaModule module)
    {
        _function = function;
        _module = module;
        Name = name;
    }

    /// <summary>The kernel's <c>extern "C"</c> name.</summary>
    public string Name { get; }

    /// <summary>Launches on <paramref name="stream"/>; <paramref name="parameters"/> point at each argument's
    /// value in declaration order.</summary>
    public void Launch(CudaStream stream, uint gridX, uint blockX, uint sharedBytes, ReadOnlySpan<nint> parameters, uint gridY = 1)
    {
        if (gridX == 0) return;
        GC.KeepAlive(_module);
        fixed (nint* p = parameters)
        {
            CudaException.Check(CudaDriverImports.cuLaunchKernel(_function, gridX, gridY, 1, blockX, 1, 1, sharedBytes, stream.Handle, (void**)p, null));
        }
    }
}
