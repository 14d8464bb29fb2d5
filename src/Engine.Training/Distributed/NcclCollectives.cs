using Engine.Core;
using Engine.Interop.Cuda;
using Engine.Interop.Nccl;

namespace Engine.Training.Distributed;

/// <summary>The collectives of GPU ranks over NCCL, on buffers in device memory (their device addresses passed as
/// pointers). Every call is queued on the rank's CUDA stream (the trainer's, so it follows the kernels that wrote
/// the buffer) and then waited for, so that a call returns with its result in place as the interface promises and
/// the world's collective time is real time. The communicator is built the way llm.c builds it: rank 0 makes
/// NCCL's unique id, the host transport (MPI, or nothing in a one-rank world) broadcasts it, every rank joins.
/// Host-memory collectives (the loss's token counts, the settings check) stay on the host transport.</summary>
internal sealed unsafe class NcclCollectives : ICollectives
{
    private readonly ICollectives _host;
    private readonly NcclCommHandle _comm;
    private readonly CudaStream _stream;
    private readonly Action? _makeCurrent;

    private NcclCollectives(ICollectives host, NcclCommHandle comm, CudaStream stream, int version, string library, Action? makeCurrent)
    {
        _makeCurrent = makeCurrent;
        _host = host;
        _comm = comm;
        _stream = stream;
        Version = version;
        Library = library;
    }

    public int Rank => _host.Rank;
    public int Size => _host.Size;

    /// <summary>NCCL's version code (e.g. 22703 for 2.27.3).</summary>
    public int Version { get; }

    /// <summary>The library file that was loaded.</summary>
    public string Library { get; }

    /// <summary>"2.27.3" from a version code (major*10000 + minor*100 + patch since NCCL 2.9).</summary>
    public static string FormatVersion(int code) => $"{code / 10000}.{code / 100 % 100}.{code % 100}";

    /// <summary>Joins every rank of <paramref name="host"/> in one NCCL communicator whose calls go on
    /// <paramref name="stream"/> (a <c>CUstream</c> the caller owns). Collective: every rank calls it, on a thread
    /// where its GPU's CUDA context is current (NCCL binds the communicator to the current device).
    /// <paramref name="host"/> stays the caller's to dispose. <paramref name="makeCurrent"/> (optional) makes the
    /// GPU's context current on the calling thread; it runs before every call, so that a communicator used from
    /// another thread than the one that made it (a thread-pool continuation) still finds its context.</summary>
    /// <exception cref="EngineException">NCCL is missing (naming every place searched) or refused.</exception>
    public static NcclCollectives Create(ICollectives host, nint stream, Action? makeCurrent = null)
    {
        try
        {
            string library = NcclLibrary.Load();
            NcclException.Check(NcclImports.ncclGetVersion(out int version));
            var id = ExchangeUniqueId(host, () =>
            {
                NcclException.Check(NcclImports.ncclGetUniqueId(out var made));
                return made;
            });
            NcclException.Check(NcclImports.ncclCommInitRank(out var comm, host.Size, id, host.Rank));
            return new NcclCollectives(host, comm, new CudaStream(CudaStreamHandle.Borrow(stream)), version, library, makeCurrent);
        }
        catch (NcclException e)
        {
            throw new EngineException($"--device cuda: {e.Message}", e);
        }
    }

    /// <summary>Rank 0 makes the id with <paramref name="make"/>; every rank returns rank 0's bytes, sent over
    /// <paramref name="host"/>. No other rank calls <paramref name="make"/>.</summary>
    internal static NcclUniqueId ExchangeUniqueId(ICollectives host, Func<NcclUniqueId> make)
    {
        NcclUniqueId id = host.Rank == 0 ? make() : default;
        host.Broadcast(&id, NcclUniqueId.Size, CollectiveDType.Byte, 0);
        return id;
    }

    public void AllReduceSum(void* buffer, long count, CollectiveDType dtype) =>
        Run(NcclCallPlan.AllReduce((ulong)buffer, count), dtype);

    public void ReduceScatterSum(void* recv, void* send, ShardLayout layout, CollectiveDType dtype)
    {
        layout.RequireRanks(Size);
        Run(NcclCallPlan.ReduceScatter((ulong)recv, (ulong)send, layout, Rank, SingleProcessCollectives.ElementSize(dtype)), dtype);
    }

    /// <summary>NCCL's in-place reduce-scatter (the receive buffer is the send buffer at this rank's shard), or per
    /// shard an in-place reduce to its rank: no device buffer besides the accumulator.</summary>
    public void ReduceScatterSumInPlace(void* buffer, ShardLayout layout, CollectiveDType dtype)
    {
        layout.RequireRanks(Size);
        Run(NcclCallPlan.ReduceScatterInPlace((ulong)buffer, layout, Rank, SingleProcessCollectives.ElementSize(dtype)), dtype);
    }

    public void AllGather(void* buffer, ShardLayout layout, CollectiveDType dtype)
    {
        layout.RequireRanks(Size);
        Run(NcclCallPlan.AllGather((ulong)buffer, layout, Rank, SingleProcessCollectives.ElementSize(dtype)), dtype);
    }

    public void Broadcast(void* buffer, long count, CollectiveDType dtype, int root) =>
        Run(NcclCallPlan.Broadcast((ulong)buffer, count, root, Size), dtype);

    /// <summary>Waits for this rank's queued GPU work, then meets the other ranks on the host transport.</summary>
    public void Barrier()
    {
        _makeCurrent?.Invoke();
        _stream.Synchronize();
        _host.Barrier();
    }

    /// <summary>Aborts the communicator without waiting for its queued work (a peer may never come), then ends the
    /// job through the host transport.</summary>
    public void Abort(int code)
    {
        if (!_comm.IsInvalid && !_comm.IsClosed)
        {
            NcclImports.ncclCommAbort(_comm.DangerousGetHandle());
            _comm.SetHandleAsInvalid();
        }
        _host.Abort(code);
    }

    public void Dispose()
    {
        _comm.Dispose();
        _stream.Dispose();
    }

    private void Run(IReadOnlyList<NcclCall> calls, CollectiveDType dtype)
    {
        if (calls.Count == 0) return;
        _makeCurrent?.Invoke();
        var type = Native(dtype);
        // Several calls (an uneven layout's per-shard reduces or broadcasts) run as one fused NCCL operation.
        bool grouped = calls.Count > 1;
        if (grouped) NcclException.Check(NcclImports.ncclGroupStart());
        foreach (var call in calls) Queue(call, type);
        if (grouped) NcclException.Check(NcclImports.ncclGroupEnd());
        _stream.Synchronize();
    }

    private void Queue(NcclCall call, NcclDataType type)
    {
        var handle = _stream.Handle;
        nuint count = (nuint)call.Count;
        switch (call.Kind)
        {
            case NcclCallKind.AllReduce:
                NcclException.Check(NcclImports.ncclAllReduce(call.Send, call.Receive, count, type, NcclReduceOp.Sum, _comm, handle));
                break;
            case NcclCallKind.ReduceScatter:
                NcclException.Check(NcclImports.ncclReduceScatter(call.Send, call.Receive, count, type, NcclReduceOp.Sum, _comm, handle));
                break;
            case NcclCallKind.Reduce:
                NcclException.Check(NcclImports.ncclReduce(call.Send, call.Receive, count, type, NcclReduceOp.Sum, call.Root, _comm, handle));
                break;
            case NcclCallKind.AllGather:
                NcclException.Check(NcclImports.ncclAllGather(call.Send, call.Receive, count, type, _comm, handle));
                break;
            case NcclCallKind.Broadcast:
                NcclException.Check(NcclImports.ncclBroadcast(call.Send, call.Receive, count, type, call.Root, _comm, handle));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(call), call.Kind, null);
        }
    }

    internal static NcclDataType Native(CollectiveDType dtype) => dtype switch
    {
        CollectiveDType.Float32 => NcclDataType.Float32,
        CollectiveDType.Float64 => NcclDataType.Float64,
        CollectiveDType.Int64 => NcclDataType.Int64,
        CollectiveDType.Byte => NcclDataType.Uint8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, null),
    };
}
