using Engine.Core;
using Engine.Interop.Nccl;
using Engine.Training.Distributed;

namespace Engine.Training.Tests;

/// <summary>The parts of the NCCL collectives that need no GPU: the calls each collective becomes (even and uneven
/// shard layouts, byte offsets per element size), the unique id's trip from rank 0 to the others, the data types,
/// and the rank-to-GPU mapping.</summary>
public sealed unsafe class NcclCollectivesTests
{
    private const ulong Base = 0x7f00_0000_0000;

    [Fact]
    public void EvenShardsAreOneReduceScatterAndOneInPlaceAllGather()
    {
        var layout = ShardLayout.Even(12, 3);
        Assert.Equal([new NcclCall(NcclCallKind.ReduceScatter, Base, Base + 4096, 4)], NcclCallPlan.ReduceScatter(Base + 4096, Base, layout, rank: 1, elementSize: 8));
        // NCCL's in-place all-gather: the send buffer is the rank's own shard inside the receive buffer.
        Assert.Equal([new NcclCall(NcclCallKind.AllGather, Base + 2 * 4 * 4, Base, 4)], NcclCallPlan.AllGather(Base, layout, rank: 2, elementSize: 4));
    }

    [Fact]
    public void UnevenShardsAreOneRootedCallPerNonEmptyShard()
    {
        // Even(10, 4) = 3, 3, 3, 1; Even(5, 4) = 2, 2, 1, 0 (the empty shard is skipped on every rank alike).
        var layout = ShardLayout.Even(10, 4);
        Assert.Equal(
            [
                new NcclCall(NcclCallKind.Reduce, Base, Base + 800, 3, 0),
                new NcclCall(NcclCallKind.Reduce, Base + 24, Base + 800, 3, 1),
                new NcclCall(NcclCallKind.Reduce, Base + 48, Base + 800, 3, 2),
                new NcclCall(NcclCallKind.Reduce, Base + 72, Base + 800, 1, 3),
            ],
            NcclCallPlan.ReduceScatter(Base + 800, Base, layout, rank: 3, elementSize: 8));
        Assert.Equal(
            [
                new NcclCall(NcclCallKind.Broadcast, Base, Base, 2, 0),
                new NcclCall(NcclCallKind.Broadcast, Base + 8, Base + 8, 2, 1),
                new NcclCall(NcclCallKind.Broadcast, Base + 16, Base + 16, 1, 2),
            ],
            NcclCallPlan.AllGather(Base, ShardLayout.Even(5, 4), rank: 0, elementSize: 4));
    }

    [Fact]
    public void EmptyBuffersQueueNothingAndBadArgumentsAreRefused()
    {
        Assert.Empty(NcclCallPlan.AllReduce(Base, 0));
        Assert.Empty(NcclCallPlan.ReduceScatter(Base, Base, ShardLayout.Even(0, 2), 0, 8));
        Assert.Empty(NcclCallPlan.Broadcast(Base, 0, 0, 2));
        Assert.Equal([new NcclCall(NcclCallKind.AllReduce, Base, Base, 7)], NcclCallPlan.AllReduce(Base, 7));
        Assert.Throws<ArgumentOutOfRangeException>(() => NcclCallPlan.AllReduce(Base, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => NcclCallPlan.Broadcast(Base, 4, root: 2, ranks: 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => NcclCallPlan.ReduceScatter(Base, Base, ShardLayout.Even(8, 2), rank: 2, elementSize: 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => NcclCallPlan.AllGather(Base, ShardLayout.Even(8, 2), rank: 0, elementSize: 0));
    }

    [Fact]
    public void OnlyRankZeroMakesTheUniqueIdAndEveryRankGetsItsBytes()
    {
        var wire = new byte[NcclUniqueId.Size];
        var bytes = Enumerable.Range(0, NcclUniqueId.Size).Select(i => (byte)(i * 7 + 3)).ToArray();
        var made = Id(bytes);
        int calls = 0;
        var ids = new List<NcclUniqueId>();
        for (int rank = 0; rank < 3; rank++)
            ids.Add(NcclCollectives.ExchangeUniqueId(new LoopbackCollectives(rank, 3, wire), () =>
            {
                calls++;
                return made;
            }));
        Assert.Equal(1, calls);
        foreach (var id in ids)
        {
            var copy = id;
            Assert.Equal(bytes, new ReadOnlySpan<byte>(copy.Internal, NcclUniqueId.Size).ToArray());
        }
    }

    [Fact]
    public void EveryCollectiveTypeHasItsNcclType()
    {
        Assert.Equal(NcclDataType.Float32, NcclCollectives.Native(CollectiveDType.Float32));
        Assert.Equal(NcclDataType.Float64, NcclCollectives.Native(CollectiveDType.Float64));
        Assert.Equal(NcclDataType.Int64, NcclCollectives.Native(CollectiveDType.Int64));
        Assert.Equal(NcclDataType.Uint8, NcclCollectives.Native(CollectiveDType.Byte));
        Assert.Equal("2.27.3", NcclCollectives.FormatVersion(22703));
    }

    [Theory]
    [InlineData(0, 1, 1, 0)]
    [InlineData(3, 4, 8, 3)]
    [InlineData(7, 8, 8, 7)]
    public void EachLocalRankGetsItsOwnGpu(int localRank, int localSize, int gpus, int expected) =>
        Assert.Equal(expected, GpuAssignment.Ordinal(localRank, localSize, gpus, "node1"));

    [Fact]
    public void MoreRanksThanGpusOrNoGpuIsAnErrorNamingTheMachine()
    {
        var crowded = Assert.Throws<EngineException>(() => GpuAssignment.Ordinal(0, 4, 2, "node1"));
        Assert.Equal("--device cuda: 4 ranks on node1 but it shows 2 GPU(s); each rank needs its own GPU (start at most 2 ranks per machine, or set CUDA_VISIBLE_DEVICES)", crowded.Message);
        Assert.Contains("node1 shows no GPU", Assert.Throws<EngineException>(() => GpuAssignment.Ordinal(0, 1, 0, "node1")).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => GpuAssignment.Ordinal(2, 2, 2, "node1"));
    }

    [Fact]
    public void ThisMachineWithoutAGpuGetsTheDriverProbesReason()
    {
        var cuda = Engine.Interop.Cuda.CudaLibrary.Availability;
        using var world = TrainingWorld.Single();
        if (cuda.IsAvailable)
        {
            Assert.Equal(0, GpuAssignment.ForRank(world));
            return;
        }
        var e = Assert.Throws<EngineException>(() => GpuAssignment.ForRank(world));
        Assert.Equal($"--device cuda: {cuda.Reason}", e.Message);
    }

    [Fact]
    public void BenchNcclOnAMachineWithoutAGpuIsOneLineAndAFailingExit()
    {
        var cuda = Engine.Interop.Cuda.CudaLibrary.Availability;
        var result = Engine.Testing.EngineProcess.Run("bench", "nccl", "--elements", "1024", "--repeat", "1");
        if (cuda.IsAvailable)
        {
            // With a GPU, NCCL is either found (and every collective must be exact) or missing (one line naming where it looked).
            Assert.True(result.ExitCode == 0 || result.Stderr.Contains("NCCL (libnccl.so.2) not found; looked in: "), result.Stderr);
            return;
        }
        Assert.NotEqual(0, result.ExitCode);
        Assert.Equal($"engine: error: --device cuda: {cuda.Reason}", result.Stderr.Trim());
    }

    private static NcclUniqueId Id(byte[] bytes)
    {
        var id = new NcclUniqueId();
        bytes.CopyTo(new Span<byte>(id.Internal, NcclUniqueId.Size));
        return id;
    }

    /// <summary>Ranks of one job simulated one after another in one process: rank 0's broadcast writes the wire,
    /// the others read it (so rank 0 must run first).</summary>
    private sealed class LoopbackCollectives(int rank, int size, byte[] wire) : ICollectives
    {
        public int Rank => rank;
        public int Size => size;

        public void Broadcast(void* buffer, long count, CollectiveDType dtype, int root)
        {
            Assert.Equal((0, CollectiveDType.Byte, (long)wire.Length), (root, dtype, count));
            var span = new Span<byte>(buffer, checked((int)count));
            if (rank == root) span.CopyTo(wire);
            else wire.CopyTo(span);
        }

        public void AllReduceSum(void* buffer, long count, CollectiveDType dtype) => throw new NotSupportedException();
        public void ReduceScatterSum(void* recv, void* send, ShardLayout layout, CollectiveDType dtype) => throw new NotSupportedException();
        public void ReduceScatterSumInPlace(void* buffer, ShardLayout layout, CollectiveDType dtype) => throw new NotSupportedException();
        public void AllGather(void* buffer, ShardLayout layout, CollectiveDType dtype) => throw new NotSupportedException();
        public void Barrier() => throw new NotSupportedException();
        public void Abort(int code) => throw new NotSupportedException();
        public void Dispose() { }
    }
}
