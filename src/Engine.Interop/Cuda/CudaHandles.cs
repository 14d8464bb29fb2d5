using System.Runtime.InteropServices;

namespace Engine.Interop.Cuda;

/// <summary>A <c>CUcontext</c>; destroying it frees everything allocated in it.</summary>
public sealed class CudaContextHandle : SafeHandle
{
    /// <summary>An empty handle, filled by the driver call that creates the context.</summary>
    public CudaContextHandle() : base(0, ownsHandle: true) { }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == 0;

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => CudaDriverImports.cuCtxDestroy(handle) == CudaResult.Success;
}

/// <summary>A <c>CUmodule</c> loaded from PTX.</summary>
public sealed class CudaModuleHandle : SafeHandle
{
    /// <summary>An empty handle, filled by the driver call that loads the module.</summary>
    public CudaModuleHandle() : base(0, ownsHandle: true) { }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == 0;

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => CudaDriverImports.cuModuleUnload(handle) == CudaResult.Success;
}

/// <summary>A <c>CUstream</c>. The default value (handle 0) is the legacy default stream and is never destroyed.</summary>
public sealed class CudaStreamHandle : SafeHandle
{
    /// <summary>An empty handle, filled by the driver call that creates the stream.</summary>
    public CudaStreamHandle() : base(0, ownsHandle: true) { }

    private CudaStreamHandle(nint stream) : base(0, ownsHandle: false) => SetHandle(stream);

    /// <summary>A stream someone else created and destroys (the native trainer's): passed to calls, never destroyed here.</summary>
    internal static CudaStreamHandle Borrow(nint stream) => new(stream);

    /// <inheritdoc/>
    public override bool IsInvalid => handle == 0;

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => CudaDriverImports.cuStreamDestroy(handle) == CudaResult.Success;
}

/// <summary>A <c>CUevent</c> (timing enabled unless created otherwise).</summary>
public sealed class CudaEventHandle : SafeHandle
{
    /// <summary>An empty handle, filled by the driver call that creates the event.</summary>
    public CudaEventHandle() : base(0, ownsHandle: true) { }

    /// <inheritdoc/>
    public override bool IsInvalid => handle == 0;

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => CudaDriverImports.cuEventDestroy(handle) == CudaResult.Success;
}
