using System.Runtime.InteropServices;

namespace Engine.Interop.Nccl;

// The enums and the id struct of NCCL's nccl.h (2.x), value for value; declared here so that the build needs no NCCL
// headers.

/// <summary><c>ncclResult_t</c>.</summary>
public enum NcclResult
{
    Success = 0,
    UnhandledCudaError = 1,
    SystemError = 2,
    InternalError = 3,
    InvalidArgument = 4,
    InvalidUsage = 5,
    RemoteError = 6,
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
