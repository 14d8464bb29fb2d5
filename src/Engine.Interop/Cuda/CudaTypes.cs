namespace Engine.Interop.Cuda;

/// <summary><c>CUresult</c>: the status every driver call returns (the values the engine names; any other
/// value is still carried through and printed by the driver's own name for it).</summary>
public enum CudaResult
{
    /// <summary><c>CUDA_SUCCESS</c>.</summary>
    Success = 0,
    /// <summary><c>CUDA_ERROR_INVALID_VALUE</c>: an argument is out of range.</summary>
    InvalidValue = 1,
    /// <summary><c>CUDA_ERROR_OUT_OF_MEMORY</c>.</summary>
    OutOfMemory = 2,
    /// <summary><c>CUDA_ERROR_NOT_INITIALIZED</c>: <c>cuInit</c> was not called or failed.</summary>
    NotInitialized = 3,
    /// <summary><c>CUDA_ERROR_DEINITIALIZED</c>: the driver is shutting down.</summary>
    Deinitialized = 4,
    /// <summary><c>CUDA_ERROR_NO_DEVICE</c>: no CUDA-capable GPU is visible.</summary>
    NoDevice = 100,
    /// <summary><c>CUDA_ERROR_INVALID_DEVICE</c>: no device of that ordinal.</summary>
    InvalidDevice = 101,
    /// <summary><c>CUDA_ERROR_INVALID_IMAGE</c>: the module image is malformed.</summary>
    InvalidImage = 200,
    /// <summary><c>CUDA_ERROR_INVALID_CONTEXT</c>: no current context on the thread.</summary>
    InvalidContext = 201,
    /// <summary><c>CUDA_ERROR_NO_BINARY_FOR_GPU</c>: the image has no code for this GPU.</summary>
    NoBinaryForGpu = 209,
    /// <summary><c>CUDA_ERROR_INVALID_PTX</c>: the PTX JIT failed.</summary>
    InvalidPtx = 218,
    /// <summary><c>CUDA_ERROR_UNSUPPORTED_PTX_VERSION</c>: the driver is older than the PTX's ISA version.</summary>
    UnsupportedPtxVersion = 222,
    /// <summary><c>CUDA_ERROR_NOT_FOUND</c>: a named symbol (kernel) is not in the module.</summary>
    NotFound = 500,
    /// <summary><c>CUDA_ERROR_NOT_READY</c>: queued work has not finished (not a failure).</summary>
    NotReady = 600,
    /// <summary><c>CUDA_ERROR_ILLEGAL_ADDRESS</c>: a kernel accessed invalid memory; the context is unusable after.</summary>
    IllegalAddress = 700,
    /// <summary><c>CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES</c>: too many registers or too much shared memory for the launch.</summary>
    LaunchOutOfResources = 701,
    /// <summary><c>CUDA_ERROR_LAUNCH_TIMEOUT</c>: the kernel ran past the display watchdog.</summary>
    LaunchTimeout = 702,
    /// <summary><c>CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED</c>.</summary>
    HostMemoryAlreadyRegistered = 712,
    /// <summary><c>CUDA_ERROR_NOT_SUPPORTED</c>: the operation is not supported on this device or system.</summary>
    NotSupported = 801,
    /// <summary><c>CUDA_ERROR_UNKNOWN</c>.</summary>
    Unknown = 999,
}

/// <summary>The <c>CUdevice_attribute</c> values the engine reads.</summary>
public enum CudaDeviceAttribute
{
    /// <summary><c>CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK</c>.</summary>
    MaxThreadsPerBlock = 1,
    /// <summary><c>CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK</c>, bytes.</summary>
    MaxSharedMemoryPerBlock = 8,
    /// <summary><c>CU_DEVICE_ATTRIBUTE_CLOCK_RATE</c>, kHz.</summary>
    ClockRate = 13,
    /// <summary><c>CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT</c>.</summary>
    MultiprocessorCount = 16,
    /// <summary><c>CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE</c>, kHz.</summary>
    MemoryClockRate = 36,
    /// <summary><c>CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH</c>, bits.</summary>
    GlobalMemoryBusWidth = 37,
    /// <summary><c>CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR</c>.</summary>
    ComputeCapabilityMajor = 75,
    /// <summary><c>CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR</c>.</summary>
    ComputeCapabilityMinor = 76,
}
