using System.Runtime.InteropServices;

namespace Engine.Interop.Nccl;

// The enums and the id struct of NCCL's nccl.h (2.x), value for value; declared here so that the build needs no NCCL
// headers.

/// <summary><c>ncclResult_t</c>.</summary>
public enum NcclResult
{
    /// <summary><c>ncclSuccess</c>.</summary>
    Success = 0,
    /// <summary><c>ncclUnhandledCudaError</c>: a CUDA call inside NCCL failed.</summary>
    UnhandledCudaError = 1,
    /// <summary><c>ncclSystemError</c>: a system call (socket, memory) failed.</summary>
    SystemError = 2,
    /// <summary><c>ncclInternalError</c>: an NCCL bug or memory corruption.</summary>
    InternalError = 3,
    /// <summary><c>ncclInvalidArgument</c>.</summary>
    InvalidArgument = 4,
    /// <summary><c>ncclInvalidUsage</c>: a call sequence NCCL does not allow (such as mismatched collectives across ranks).</summary>
    InvalidUsage = 5,
    /// <summary><c>ncclRemoteError</c>: another rank or the network failed.</summary>
    RemoteError = 6,
    /// <summary><c>ncclInProgress</c>: a non-blocking call has not finished (not a failure).</summary>
    InProgress = 7,
}

/// <summary><c>ncclDataType_t</c> (the types the engine sends).</summary>
internal enum NcclDataType
{
    Int8 = 0,
    Uint8 = 1,
    Int32 = 2,
    Int64 = 4,
    Float16 = 6,
    Float32 = 7,
    Float64 = 8,
    Bfloat16 = 9,
}

/// <summary><c>ncclRedOp_t</c> (the built-in reductions).</summary>
internal enum NcclReduceOp
{
    Sum = 0,
    Prod = 1,
    Max = 2,
    Min = 3,
    Avg = 4,
}

/// <summary><c>ncclUniqueId</c>: 128 opaque bytes made by one rank (<c>ncclGetUniqueId</c>) and handed to every
/// rank out of band (here over MPI) before <c>ncclCommInitRank</c>, which takes it by value.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NcclUniqueId
{
    public const int Size = 128;

    public fixed byte Internal[Size];
}
