using System.Runtime.InteropServices;

namespace Engine.Interop.Cuda;

/// <summary>A <c>CUcontext</c>; destroying it frees everything allocated in it.</summary>
public sealed class CudaContextHandle : SafeHandle
{
    public CudaContextHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => CudaDriverImports.cuCtxDestroy(handle) == CudaResult.Success;
}

/// <summary>A <c>CUmodule</c> loaded from PTX.</summary>
public sealed class CudaModuleHandle : SafeHandle
{
    public CudaModuleHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => CudaDriverImports.cuModuleUnload(handle) == CudaResult.Success;
}

/// <summary>A <c>CUstream</c>. The default value (handle 0) is the legacy default stream and is never destroyed.</summary>
public sealed class CudaStreamHandle : SafeHandle
{
    public CudaStreamHandle() : base(0, ownsHandle: true) { }

    private CudaStreamHandle(nint stream) : base(0, ownsHandle: false) => SetHandle(stream);

    /// <summary>A stream someone else created and destroys (the native trainer's): passed to calls, never destroyed here.</summary>
    internal static CudaStreamHandle Borrow(nint stream) => new(stream);

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => CudaDriverImports.cuStreamDestroy(handle) == CudaResult.Success;
}

/// <summary>A <c>CUevent</c> (timing enabled unless created otherwise).</summary>
public sealed class CudaEventHandle : SafeHandle
{
    public CudaEventHandle() : base(0, ownsHandle: true) { }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => CudaDriverImports.cuEventDestroy(handle) == CudaResult.Success;
}
