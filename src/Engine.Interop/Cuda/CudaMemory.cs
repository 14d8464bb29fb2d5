using System.Runtime.InteropServices;

namespace Engine.Interop.Cuda;

/// <summary>Device memory from <c>cuMemAlloc_v2</c>. The handle is the device address; it is freed in the
/// context current on the disposing thread, so dispose before the context.</summary>
public sealed class CudaDeviceBuffer : SafeHandle
{
    internal CudaDeviceBuffer(ulong pointer, long bytes) : base(0, ownsHandle: true)
    {
        SetHandle((nint)pointer);
        Bytes = bytes;
    }

    /// <summary>The allocation's size in bytes.</summary>
    public long Bytes { get; }

    /// <summary>The device address (for kernel parameters and copies).</summary>
    public ulong Address => IsClosed ? throw new ObjectDisposedException(nameof(CudaDeviceBuffer)) : (ulong)handle;

    /// <inheritdoc/>
    public override bool IsInvalid => handle == 0;

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => CudaDriverImports.cuMemFree((ulong)handle) == CudaResult.Success;
}

/// <summary>Page-locked host memory from <c>cuMemAllocHost_v2</c>.</summary>
public sealed unsafe class CudaPinnedBuffer : SafeHandle
{
    internal CudaPinnedBuffer(void* pointer, long bytes) : base(0, ownsHandle: true)
    {
        SetHandle((nint)pointer);
        Bytes = bytes;
    }

    /// <summary>The allocation's size in bytes.</summary>
    public long Bytes { get; }

    /// <summary>The host address of the first byte.</summary>
    /// <exception cref="ObjectDisposedException">The buffer was freed.</exception>
    public byte* Pointer => IsClosed ? throw new ObjectDisposedException(nameof(CudaPinnedBuffer)) : (byte*)handle;

    /// <inheritdoc/>
    public override bool IsInvalid => handle == 0;

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => CudaDriverImports.cuMemFreeHost((void*)handle) == CudaResult.Success;
}

/// <summary>A <c>cuMemHostRegister_v2</c> registration of memory the caller owns; disposing unregisters it.</summary>
public sealed unsafe class CudaHostRegistration : SafeHandle
{
    internal CudaHostRegistration(void* pointer) : base(0, ownsHandle: true) => SetHandle((nint)pointer);

    /// <inheritdoc/>
    public override bool IsInvalid => handle == 0;

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => CudaDriverImports.cuMemHostUnregister((void*)handle) == CudaResult.Success;
}
