using System.Runtime.InteropServices;
using Engine.Interop.Cuda;

namespace Engine.Interop.Nccl;

/// <summary>The NCCL calls the engine uses, declared from nccl.h's C signatures (no NCCL headers at build time).
/// <c>nccl</c> resolves to the library <see cref="NcclLibrary"/> found (<c>libnccl.so.2</c>). Every call returns an
/// <see cref="NcclResult"/> that <see cref="NcclException.Check"/> turns into a typed exception. Buffers are device
/// addresses; the collectives are queued on <c>stream</c> and return before they run.</summary>
internal static unsafe partial class NcclImports
{
    public const string Library = "nccl";

    [LibraryImport(Library)] public static partial NcclResult ncclGetVersion(out int version);
    [LibraryImport(Library)] public static partial NcclResult ncclGetUniqueId(out NcclUniqueId uniqueId);
    [LibraryImport(Library)] public static partial NcclResult ncclCommInitRank(out NcclCommHandle comm, int nranks, NcclUniqueId commId, int rank);
    [LibraryImport(Library)] public static partial NcclResult ncclCommDestroy(nint comm);
    [LibraryImport(Library)] public static partial NcclResult ncclCommAbort(nint comm);
    [LibraryImport(Library)] public static partial nint ncclGetErrorString(NcclResult result);
    [LibraryImport(Library)] public static partial nint ncclGetLastError(nint comm);

    [LibraryImport(Library)]
    public static partial NcclResult ncclAllReduce(ulong sendbuff, ulong recvbuff, nuint count, NcclDataType datatype, NcclReduceOp op,
        NcclCommHandle comm, CudaStreamHandle stream);

    [LibraryImport(Library)]
    public static partial NcclResult ncclReduceScatter(ulong sendbuff, ulong recvbuff, nuint recvcount, NcclDataType datatype, NcclReduceOp op,
        NcclCommHandle comm, CudaStreamHandle stream);

    [LibraryImport(Library)]
    public static partial NcclResult ncclReduce(ulong sendbuff, ulong recvbuff, nuint count, NcclDataType datatype, NcclReduceOp op, int root,
        NcclCommHandle comm, CudaStreamHandle stream);

    [LibraryImport(Library)]
    public static partial NcclResult ncclAllGather(ulong sendbuff, ulong recvbuff, nuint sendcount, NcclDataType datatype,
        NcclCommHandle comm, CudaStreamHandle stream);

    [LibraryImport(Library)]
    public static partial NcclResult ncclBroadcast(ulong sendbuff, ulong recvbuff, nuint count, NcclDataType datatype, int root,
        NcclCommHandle comm, CudaStreamHandle stream);

    [LibraryImport(Library)] public static partial NcclResult ncclGroupStart();
    [LibraryImport(Library)] public static partial NcclResult ncclGroupEnd();
}
