using System.Runtime.InteropServices;

namespace Engine.Interop.Cuda;

/// <summary>The CUDA driver API calls the engine uses, bound to their <c>_v2</c> exports where the driver
/// has them (the unsuffixed names are the CUDA 3.x ABI with 32-bit sizes). All internal: callers go through
/// <see cref="CudaContext"/>, <see cref="CudaModule"/> and the typed handles. Every call returns a
/// <see cref="CudaResult"/> that <see cref="CudaException.Check"/> turns into a typed exception.</summary>
internal static partial class CudaDriverImports
{
    /// <summary>Resolved to <c>libcuda.so.1</c> by <see cref="CudaLibrary"/> (driver-only machines have no
    /// unversioned <c>libcuda.so</c>).</summary>
    public const string Library = "cuda";

    [LibraryImport(Library)] public static partial CudaResult cuInit(uint flags);
    [LibraryImport(Library)] public static partial CudaResult cuDriverGetVersion(out int version);
    [LibraryImport(Library)] public static partial CudaResult cuDeviceGetCount(out int count);
    [LibraryImport(Library)] public static partial CudaResult cuDeviceGet(out int device, int ordinal);
    [LibraryImport(Library)] public static unsafe partial CudaResult cuDeviceGetName(byte* name, int length, int device);
    [LibraryImport(Library)] public static partial CudaResult cuDeviceGetAttribute(out int value, CudaDeviceAttribute attribute, int device);
    [LibraryImport(Library, EntryPoint = "cuDeviceTotalMem_v2")] public static partial CudaResult cuDeviceTotalMem(out nuint bytes, int device);

    [LibraryImport(Library, EntryPoint = "cuCtxCreate_v2")] public static partial CudaResult cuCtxCreate(out CudaContextHandle context, uint flags, int device);
    [LibraryImport(Library, EntryPoint = "cuCtxDestroy_v2")] public static partial CudaResult cuCtxDestroy(nint context);
    [LibraryImport(Library)] public static partial CudaResult cuCtxSetCurrent(CudaContextHandle context);
    [LibraryImport(Library)] public static partial CudaResult cuCtxSynchronize();

    [LibraryImport(Library)] public static unsafe partial CudaResult cuModuleLoadData(out CudaModuleHandle module, byte* image);
    [LibraryImport(Library)] public static partial CudaResult cuModuleUnload(nint module);
    [LibraryImport(Library, StringMarshalling = StringMarshalling.Utf8)] public static partial CudaResult cuModuleGetFunction(out nint function, CudaModuleHandle module, string name);

    [LibraryImport(Library)]
    public static unsafe partial CudaResult cuLaunchKernel(nint function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedBytes, CudaStreamHandle stream, void** parameters, void** extra);

    [LibraryImport(Library, EntryPoint = "cuMemAlloc_v2")] public static partial CudaResult cuMemAlloc(out ulong pointer, nuint bytes);
    [LibraryImport(Library, EntryPoint = "cuMemFree_v2")] public static partial CudaResult cuMemFree(ulong pointer);
    [LibraryImport(Library, EntryPoint = "cuMemAllocHost_v2")] public static unsafe partial CudaResult cuMemAllocHost(out void* pointer, nuint bytes);
    [LibraryImport(Library)] public static unsafe partial CudaResult cuMemFreeHost(void* pointer);
    [LibraryImport(Library, EntryPoint = "cuMemHostRegister_v2")] public static unsafe partial CudaResult cuMemHostRegister(void* pointer, nuint bytes, uint flags);
    [LibraryImport(Library)] public static unsafe partial CudaResult cuMemHostUnregister(void* pointer);
    [LibraryImport(Library, EntryPoint = "cuMemGetInfo_v2")] public static partial CudaResult cuMemGetInfo(out nuint free, out nuint total);

    [LibraryImport(Library, EntryPoint = "cuMemcpyHtoDAsync_v2")] public static unsafe partial CudaResult cuMemcpyHtoDAsync(ulong destination, void* source, nuint bytes, CudaStreamHandle stream);
    [LibraryImport(Library, EntryPoint = "cuMemcpyDtoHAsync_v2")] public static unsafe partial CudaResult cuMemcpyDtoHAsync(void* destination, ulong source, nuint bytes, CudaStreamHandle stream);
    [LibraryImport(Library, EntryPoint = "cuMemcpyDtoDAsync_v2")] public static partial CudaResult cuMemcpyDtoDAsync(ulong destination, ulong source, nuint bytes, CudaStreamHandle stream);
    [LibraryImport(Library, EntryPoint = "cuMemsetD8Async")] public static partial CudaResult cuMemsetD8Async(ulong destination, byte value, nuint count, CudaStreamHandle stream);

    [LibraryImport(Library)] public static partial CudaResult cuStreamCreate(out CudaStreamHandle stream, uint flags);
    [LibraryImport(Library, EntryPoint = "cuStreamDestroy_v2")] public static partial CudaResult cuStreamDestroy(nint stream);
    [LibraryImport(Library)] public static partial CudaResult cuStreamSynchronize(CudaStreamHandle stream);
    [LibraryImport(Library)] public static partial CudaResult cuStreamWaitEvent(CudaStreamHandle stream, CudaEventHandle @event, uint flags);

    [LibraryImport(Library)] public static partial CudaResult cuEventCreate(out CudaEventHandle @event, uint flags);
    [LibraryImport(Library, EntryPoint = "cuEventDestroy_v2")] public static partial CudaResult cuEventDestroy(nint @event);
    [LibraryImport(Library)] public static partial CudaResult cuEventRecord(CudaEventHandle @event, CudaStreamHandle stream);
    [LibraryImport(Library)] public static partial CudaResult cuEventSynchronize(CudaEventHandle @event);
    [LibraryImport(Library)] public static partial CudaResult cuEventElapsedTime(out float milliseconds, CudaEventHandle start, CudaEventHandle end);

    [LibraryImport(Library)] public static partial CudaResult cuGetErrorName(CudaResult error, out nint name);
    [LibraryImport(Library)] public static partial CudaResult cuGetErrorString(CudaResult error, out nint text);
}
