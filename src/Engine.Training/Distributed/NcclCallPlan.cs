namespace Engine.Training.Distributed;

/// <summary>Which NCCL operation a <see cref="NcclCall"/> queues.</summary>
internal enum NcclCallKind
{
    AllReduce,
    ReduceScatter,
    Reduce,
    AllGather,
    Broadcast,
}

/// <summary>One NCCL call: device addresses of its send and receive buffers, element count (per rank for
/// reduce-scatter and all-gather, as NCCL counts them) and root (reduce and broadcast only; else -1).</summary>
internal readonly record struct NcclCall(NcclCallKind Kind, ulong Send, ulong Receive, long Count, int Root = -1);

/// <summary>The NCCL calls that carry out one collective of <see cref="ICollectives"/> on device buffers, worked
/// out apart from NCCL so that the address arithmetic is testable without a GPU. NCCL's reduce-scatter and
/// all-gather need equal shards; <see cref="ShardLayout.Even"/> gives the last ranks shorter (or empty) shards when
/// the rank count does not divide the buffer, so an uneven layout becomes one reduce (or broadcast) per non-empty
/// shard with that shard's rank as root, queued together between <c>ncclGroupStart</c>/<c>ncclGroupEnd</c>: the
/// same bytes moved per rank as the ring collective, and no padded copy of a buffer as large as the model.</summary>
internal static class NcclCallPlan
{
    /// <summary>Sum over ranks in place: one all-reduce.</summary>
    public static IReadOnlyList<NcclCall> AllReduce(ulong buffer, long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return count == 0 ? [] : [new NcclCall(NcclCallKind.AllReduce, buffer, buffer, count)];
    }

    /// <summary><paramref name="send"/> holds the whole layout; <paramref name="receive"/> gets the sum of rank
    /// <paramref name="rank"/>'s shard.</summary>
    public static IReadOnlyList<NcclCall> ReduceScatter(ulong receive, ulong send, ShardLayout layout, int rank, int elementSize)
    {
        Check(layout, rank, elementSize);
        if (IsUniform(layout))
            return layout.Count(0) == 0 ? [] : [new NcclCall(NcclCallKind.ReduceScatter, send, receive, layout.Count(0))];
        return Enumerable.Range(0, layout.Ranks).Where(r => layout.Count(r) > 0)
            .Select(r => new NcclCall(NcclCallKind.Reduce, send + Bytes(layout.Offset(r), elementSize), receive, layout.Count(r), r))
            .ToList();
    }

    /// <summary>In place: <paramref name="buffer"/> holds the whole layout; rank <paramref name="rank"/>'s shard of
    /// it receives that shard's sum. Uniform shards: one reduce-scatter whose receive address is the send address
    /// plus the rank's offset (NCCL's in-place form). Uneven: one reduce per non-empty shard, each reading and
    /// writing that shard (in place at its root); the shards are disjoint, so the grouped calls do not overlap.</summary>
    public static IReadOnlyList<NcclCall> ReduceScatterInPlace(ulong buffer, ShardLayout layout, int rank, int elementSize)
    {
        Check(layout, rank, elementSize);
        if (IsUniform(layout))
            return layout.Count(0) == 0 ? [] : [new NcclCall(NcclCallKind.ReduceScatter, buffer, buffer + Bytes(layout.Offset(rank), elementSize), layout.Count(0))];
        return Enumerable.Range(0, layout.Ranks).Where(r => layout.Count(r) > 0)
            .Select(r =>
            {
                ulong shard = buffer + Bytes(layout.Offset(r), elementSize);
                return new NcclCall(NcclCallKind.Reduce, shard, shard, layout.Count(r), r);
            })
            .ToList();
    }

    /// <summary>In place: every rank's shard of <paramref name="buffer"/> goes to all ranks.</summary>
    public static IReadOnlyList<NcclCall> AllGather(ulong buffer, ShardLayout layout, int rank, int elementSize)
    {
        Check(layout, rank, elementSize);
        if (IsUniform(layout))
            return layout.Count(0) == 0 ? [] : [new NcclCall(NcclCallKind.AllGather, buffer + Bytes(layout.Offset(rank), elementSize), buffer, layout.Count(0))];
        return Enumerable.Range(0, layout.Ranks).Where(r => layout.Count(r) > 0)
            .Select(r =>
            {
                ulong shard = buffer + Bytes(layout.Offset(r), elementSize);
                return new NcclCall(NcclCallKind.Broadcast, shard, shard, layout.Count(r), r);
            })
            .ToList();
    }

    /// <summary>Rank <paramref name="root"/>'s buffer to every rank, in place.</summary>
    public static IReadOnlyList<NcclCall> Broadcast(ulong buffer, long count, int root, int ranks)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (root < 0 || root >= ranks) throw new ArgumentOutOfRangeException(nameof(root), root, $"the root must be a rank of the {ranks}");
        return count == 0 ? [] : [new NcclCall(NcclCallKind.Broadcast, buffer, buffer, count, root)];
    }

    private static bool IsUniform(ShardLayout layout) => layout.Counts.All(c => c == layout.Count(0));

    private static ulong Bytes(long elements, int elementSize) => checked((ulong)elements * (ulong)elementSize);

    private static void Check(ShardLayout layout, int rank, int elementSize)
    {
        if (rank < 0 || rank >= layout.Ranks) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"not a rank of a {layout.Ranks}-rank layout");
        ArgumentOutOfRangeException.ThrowIfLessThan(elementSize, 1);
    }
}
