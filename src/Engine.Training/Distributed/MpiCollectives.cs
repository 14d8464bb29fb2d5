using Engine.Core;
using Engine.Interop.Mpi;

namespace Engine.Training.Distributed;

/// <summary>The collectives over MPI_COMM_WORLD, through libengine_mpi (native/mpi). Created once per process,
/// when mpirun launched it; <see cref="Dispose"/> finalizes MPI.</summary>
internal sealed unsafe class MpiCollectives : ICollectives
{
    private bool _finalized;

    // The landing buffer of ReduceScatterSumInPlace (MPI's reduce-scatter may not overlap its send buffer),
    // pinned and kept from step to step: the largest shard seen, in 8-byte words (a shard may exceed 2 GiB).
    private long[]? _landing;

    private MpiCollectives(EngMpiWorld world)
    {
        Rank = world.Rank;
        Size = world.Size;
        LocalRank = world.LocalRank;
        LocalSize = world.LocalSize;
        Host = new string((sbyte*)world.Host);
        SharedMemory = world.SharedMemory != 0;
    }

    /// <summary>Whether every rank is on this machine and the collectives go through a shared-memory window.</summary>
    public bool SharedMemory { get; }

    public int Rank { get; }
    public int Size { get; }
    public int LocalRank { get; }
    public int LocalSize { get; }
    public string Host { get; }

    /// <summary>Loads the binding and initializes MPI. <paramref name="launcher"/> names how the process was
    /// started, for the error when the binding or the MPI library is missing.</summary>
    public static MpiCollectives Initialize(string launcher)
    {
        EngMpiWorld world;
        try
        {
            if (MpiImports.eng_mpi_abi_version() != 1)
                throw new EngineException($"{launcher}: libengine_mpi has ABI version {MpiImports.eng_mpi_abi_version()}, this engine expects 1; rebuild");
            Check(MpiImports.eng_mpi_init(out world));
        }
        catch (DllNotFoundException)
        {
            string binding = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "engine_mpi.dll" : "libengine_mpi.so");
            string why = File.Exists(binding)
                ? $"{binding} could not load the MPI library it was built against (install Open MPI: apt-get install openmpi-bin libopenmpi-dev)"
                : $"this build has no MPI binding ({binding} was not built: no MPI was found when the engine was built; install libopenmpi-dev and rebuild)";
            throw new EngineException($"{launcher}, but {why}; or run without mpirun");
        }
        return new MpiCollectives(world);
    }

    public void AllReduceSum(void* buffer, long count, CollectiveDType dtype) =>
        Check(MpiImports.eng_mpi_allreduce_sum(buffer, count, Native(dtype)));

    public void ReduceScatterSum(void* recv, void* send, ShardLayout layout, CollectiveDType dtype)
    {
        layout.RequireRanks(Size);
        fixed (long* counts = layout.Counts.AsSpan()) Check(MpiImports.eng_mpi_reduce_scatter_sum(recv, send, counts, Native(dtype)));
    }

    public void ReduceScatterSumInPlace(void* buffer, ShardLayout layout, CollectiveDType dtype)
    {
        layout.RequireRanks(Size);
        int size = SingleProcessCollectives.ElementSize(dtype);
        long bytes = layout.Count(Rank) * size;
        long words = Math.Max(1, (bytes + sizeof(long) - 1) / sizeof(long));
        if (_landing == null || _landing.LongLength < words) _landing = GC.AllocateUninitializedArray<long>(checked((int)words), pinned: true);
        fixed (long* landing = _landing)
        {
            ReduceScatterSum(landing, buffer, layout, dtype);
            Buffer.MemoryCopy(landing, (byte*)buffer + layout.Offset(Rank) * size, bytes, bytes);
        }
    }

    public void AllGather(void* buffer, ShardLayout layout, CollectiveDType dtype)
    {
        layout.RequireRanks(Size);
        fixed (long* counts = layout.Counts.AsSpan()) Check(MpiImports.eng_mpi_allgather(buffer, counts, Native(dtype)));
    }

    public void Broadcast(void* buffer, long count, CollectiveDType dtype, int root) =>
        Check(MpiImports.eng_mpi_broadcast(buffer, count, Native(dtype), root));

    public void Barrier() => Check(MpiImports.eng_mpi_barrier());

    public void Abort(int code)
    {
        Console.Error.Flush();
        MpiImports.eng_mpi_abort(code);
    }

    public void Dispose()
    {
        if (_finalized) return;
        _finalized = true;
        MpiImports.eng_mpi_finalize();
    }

    private static EngMpiDType Native(CollectiveDType dtype) => dtype switch
    {
        CollectiveDType.Float32 => EngMpiDType.F32,
        CollectiveDType.Float64 => EngMpiDType.F64,
        CollectiveDType.Int64 => EngMpiDType.I64,
        CollectiveDType.Byte => EngMpiDType.U8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };

    private static void Check(EngMpiStatus status)
    {
        if (status == EngMpiStatus.Ok) return;
        throw new EngineException($"MPI: {MpiImports.LastError()}");
    }
}
