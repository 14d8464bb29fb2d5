namespace Engine.Training.Distributed;

/// <summary>One rank, no transport: every collective is the identity (a reduce-scatter copies the one shard).</summary>
internal sealed unsafe class SingleProcessCollectives : ICollectives
{
    public int Rank => 0;
    public int Size => 1;

    public void AllReduceSum(void* buffer, long count, CollectiveDType dtype) { }

    public void ReduceScatterSum(void* recv, void* send, ShardLayout layout, CollectiveDType dtype)
    {
        long bytes = layout.Count(0) * ElementSize(dtype);
        if (recv != send) Buffer.MemoryCopy(send, recv, bytes, bytes);
    }

    /// <summary>The one shard is the whole buffer, already its own sum.</summary>
    public void ReduceScatterSumInPlace(void* buffer, ShardLayout layout, CollectiveDType dtype) { }

    public void AllGather(void* buffer, ShardLayout layout, CollectiveDType dtype) { }

    public void Broadcast(void* buffer, long count, CollectiveDType dtype, int root) { }

    public void Barrier() { }

    public void Abort(int code) => Environment.Exit(code);

    public void Dispose() { }

    public static int ElementSize(CollectiveDType dtype) => dtype switch
    {
        CollectiveDType.Float32 => 4,
        CollectiveDType.Byte => 1,
        _ => 8,
    };
}
