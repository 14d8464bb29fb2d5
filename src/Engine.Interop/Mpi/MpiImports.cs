using System.Runtime.InteropServices;

namespace Engine.Interop.Mpi;

/// <summary>The imports of <c>native/include/engine_mpi.h</c>, one to one. Internal: Engine.Training wraps them
/// (<c>MpiCollectives</c>). The library is loaded on the first call, which only a run launched by mpirun makes,
/// so machines without MPI never touch it.</summary>
internal static unsafe partial class MpiImports
{
    /// <summary>Found next to the assemblies (the build copies it there where MPI was found), then by the
    /// runtime's default probing.</summary>
    public const string Library = "engine_mpi";

    [LibraryImport(Library)]
    public static partial int eng_mpi_abi_version();

    [LibraryImport(Library)]
    public static partial int eng_mpi_last_error(byte* buf, int len);

    [LibraryImport(Library)]
    public static partial EngMpiStatus eng_mpi_init(out EngMpiWorld world);

    [LibraryImport(Library)]
    public static partial EngMpiStatus eng_mpi_finalize();

    [LibraryImport(Library)]
    public static partial EngMpiStatus eng_mpi_allreduce_sum(void* buffer, long count, EngMpiDType dtype);

    [LibraryImport(Library)]
    public static partial EngMpiStatus eng_mpi_reduce_scatter_sum(void* recv, void* send, long* counts, EngMpiDType dtype);

    [LibraryImport(Library)]
    public static partial EngMpiStatus eng_mpi_allgather(void* buffer, long* counts, EngMpiDType dtype);

    [LibraryImport(Library)]
    public static partial EngMpiStatus eng_mpi_broadcast(void* buffer, long count, EngMpiDType dtype, int root);

    [LibraryImport(Library)]
    public static partial EngMpiStatus eng_mpi_barrier();

    [LibraryImport(Library)]
    public static partial void eng_mpi_abort(int code);

    /// <summary>The message of the calling thread's last failed call.</summary>
    public static string LastError()
    {
        int length = eng_mpi_last_error(null, 0);
        var buffer = new byte[length + 1];
        fixed (byte* p = buffer) eng_mpi_last_error(p, buffer.Length);
        return System.Text.Encoding.UTF8.GetString(buffer, 0, length);
    }
}
