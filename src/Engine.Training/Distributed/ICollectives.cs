namespace Engine.Training.Distributed;

/// <summary>Element type of a collective's buffer.</summary>
internal enum CollectiveDType
{
    Float32,
    Float64,
    Int64,
    Byte,
}

/// <summary>The collectives data-parallel training needs, over flat buffers, called by every rank in the same
/// order (blocking). One implementation per transport: <see cref="SingleProcessCollectives"/> (one rank, no
/// library), <see cref="MpiCollectives"/> (CPU ranks), <see cref="NcclCollectives"/> (GPU ranks).
/// Buffers are addresses the transport can read: host memory for MPI, device addresses for NCCL.</summary>
internal unsafe interface ICollectives : IDisposable
{
    int Rank { get; }
    int Size { get; }

    /// <summary>Sum over ranks, in place.</summary>
    void AllReduceSum(void* buffer, long count, CollectiveDType dtype);

    /// <summary><paramref name="send"/> holds <see cref="ShardLayout.Total"/> elements; <paramref name="recv"/>
    /// receives the sum over ranks of this rank's shard (<see cref="ShardLayout.Count"/> elements).</summary>
    void ReduceScatterSum(void* recv, void* send, ShardLayout layout, CollectiveDType dtype);

    /// <summary><paramref name="buffer"/> holds <see cref="ShardLayout.Total"/> elements; afterwards this rank's
    /// shard of it (at its <see cref="ShardLayout.Offset"/>) holds the sum over ranks of that shard, and the other
    /// shards are unspecified. The ZeRO-1 gradient step on the model's own accumulator: on a GPU no second buffer
    /// (NCCL sums in place), on the host through a landing buffer the transport keeps.</summary>
    void ReduceScatterSumInPlace(void* buffer, ShardLayout layout, CollectiveDType dtype);

    /// <summary>In place: each rank's shard of <paramref name="buffer"/> (at its <see cref="ShardLayout.Offset"/>)
    /// goes to every rank.</summary>
    void AllGather(void* buffer, ShardLayout layout, CollectiveDType dtype);

    void Broadcast(void* buffer, long count, CollectiveDType dtype, int root);

    void Barrier();

    /// <summary>Ends every rank of the job with <paramref name="code"/> (after a failure on this rank, so that
    /// no other rank waits for it forever). Does not return.</summary>
    void Abort(int code);
}
