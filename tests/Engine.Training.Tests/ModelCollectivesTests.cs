using Engine.Core;
using Engine.Training.Distributed;
using Engine.Training.Sft;

namespace Engine.Training.Tests;

/// <summary>The data-parallel optimizer on the path GPU ranks take (the model's buffers over their own collectives,
/// NCCL's in-place reduce-scatter), checked on the CPU with ranks as threads (<see cref="ThreadedCollectives"/>):
/// N ranks give the model of one process with N times the accumulation, bit for bit, at stage 0 and 1 (3 ranks: an
/// uneven shard layout); one rank through such collectives gives the plain one-process run (what
/// <c>mpirun -np 1 engine sft --device cuda</c> checks on one GPU). And the rules that pick the path.</summary>
public sealed class ModelCollectivesTests
{
    private const int Steps = 3;
    private static readonly AdamWOptions Options = new(1e-2, 0.9, 0.95, 1e-8, 0.1, maxGradNorm: 0.5);

    [Theory]
    [InlineData(2, 0)]
    [InlineData(2, 1)]
    [InlineData(3, 1)]
    [InlineData(3, 0)]
    public void RanksOverModelCollectivesTrainTheModelOfOneProcessWithTheirAccumulation(int ranks, int stage)
    {
        const int accumulation = 2;
        var f = Qwen2Fixture.Load("untied_gqa");
        var batches = Batches(f.Config.VocabSize, Steps * ranks * accumulation);
        var (expected, expectedLosses) = TrainOneProcess(f, batches, ranks * accumulation);

        var host = new ThreadedCollectives(ranks);
        var model = new ThreadedCollectives(ranks);
        var results = new (float[] Parameters, double[] Losses, int ZeroStage)[ranks];
        var threads = Enumerable.Range(0, ranks).Select(rank => new Thread(() =>
        {
            using var world = TrainingWorld.Over(host.Rank(rank), "threads");
            using var scope = world.UseModelCollectives(model.Rank(rank));
            using var context = ComputeContext.CreateCpu(threads: 1);
            using var m = f.CreateModel(context, ComputeDType.Float32);
            var optimizer = new DataParallelOptimizer(m, world, stage);
            var losses = new double[Steps];
            for (int step = 0; step < Steps; step++)
            {
                // Rank r takes micro-batches r, r + N, ... of the step: the split does not matter to the float64 sum.
                var mine = Enumerable.Range(0, accumulation).Select(a => batches[step * ranks * accumulation + a * ranks + rank]).ToList();
                long scored = world.IsDistributed ? (long)world.AllReduceSum(mine.Sum(Scored)) : mine.Sum(Scored);
                m.ZeroGradients();
                double sum = 0;
                foreach (var b in mine)
                {
                    sum += m.ForwardBackward(b, 1.0 / scored).Sum;
                    m.AccumulateGradients();
                }
                losses[step] = world.AllReduceSum(sum) / scored;
                optimizer.Step(Options, step + 1);
            }
            var parameters = new float[m.ParameterCount];
            m.ReadParameters(parameters, 0);
            results[rank] = (parameters, losses, optimizer.ZeroStage);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.True(model.Calls > 0, "the optimizer never called the model collectives");
        for (int r = 0; r < ranks; r++)
        {
            Assert.Equal(stage, results[r].ZeroStage);
            AssertSameBits(expected, results[r].Parameters, $"rank {r} of {ranks}, stage {stage}");
            for (int s = 0; s < Steps; s++)
                Assert.True(Math.Abs(expectedLosses[s] - results[r].Losses[s]) <= 1e-12 * Math.Abs(expectedLosses[s]),
                    $"rank {r} step {s + 1}: loss {results[r].Losses[s]} vs {expectedLosses[s]}");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void OneRankOverModelCollectivesIsThePlainOneProcessRun(int stage)
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        var batches = Batches(f.Config.VocabSize, Steps * 2);
        var (expected, _) = TrainOneProcess(f, batches, 2);

        var model = new ThreadedCollectives(1);
        using var world = TrainingWorld.Single();
        using var scope = world.UseModelCollectives(model.Rank(0));
        using var context = ComputeContext.CreateCpu(threads: 1);
        using var m = f.CreateModel(context, ComputeDType.Float32);
        var optimizer = new DataParallelOptimizer(m, world, stage);
        Assert.Equal(stage, optimizer.ZeroStage);
        for (int step = 0; step < Steps; step++)
        {
            var mine = batches.Skip(step * 2).Take(2).ToList();
            long scored = mine.Sum(Scored);
            m.ZeroGradients();
            foreach (var b in mine)
            {
                m.ForwardBackward(b, 1.0 / scored);
                m.AccumulateGradients();
            }
            optimizer.Step(Options, step + 1);
        }
        Assert.Equal(stage == 1 ? 2 * Steps : Steps, model.Calls);
        var parameters = new float[m.ParameterCount];
        m.ReadParameters(parameters, 0);
        AssertSameBits(expected, parameters, $"one rank, stage {stage}");
    }

    [Fact]
    public void GpuRanksUseNcclWhenSeveralOrLaunchedAndCpuRanksNever()
    {
        Assert.True(TrainingWorld.UsesNccl(cuda: true, ranks: 2, launched: true));
        Assert.True(TrainingWorld.UsesNccl(cuda: true, ranks: 1, launched: true));
        Assert.False(TrainingWorld.UsesNccl(cuda: true, ranks: 1, launched: false));
        Assert.False(TrainingWorld.UsesNccl(cuda: false, ranks: 4, launched: true));
        using var world = TrainingWorld.Single();
        Assert.False(world.Launched);
        Assert.False(world.UsesNccl(TrainerDevice.Cuda(0)));
        Assert.False(world.UsesNccl(TrainerDevice.Cpu));
    }

    [Fact]
    public void AnExplicitZeroStageHoldsForOneRankOnlyOverModelCollectives()
    {
        var options = new SftOptions(1e-5, zeroStage: 1);
        Assert.Equal(0, options.ZeroStageFor(1));
        Assert.Equal(0, options.ZeroStageFor(1, collectives: false));
        Assert.Equal(1, options.ZeroStageFor(1, collectives: true));
        Assert.Equal(0, new SftOptions(1e-5).ZeroStageFor(1, collectives: true));
        Assert.Equal(1, new SftOptions(1e-5).ZeroStageFor(2, collectives: true));
    }

    [Fact]
    public void NcclNeedsACudaContextAndAWorldTakesOneSetOfModelCollectives()
    {
        using var world = TrainingWorld.Single();
        using var cpu = ComputeContext.CreateCpu(threads: 1);
        var e = Assert.Throws<ArgumentException>(() => world.UseNccl(cpu));
        Assert.Contains("CUDA", e.Message);
        Assert.False(world.HasModelCollectives);
        using (world.UseModelCollectives(new ThreadedCollectives(1).Rank(0)))
        {
            Assert.True(world.HasModelCollectives);
            Assert.Contains("model buffers over their own collectives", world.Transport);
            Assert.Throws<InvalidOperationException>(() => world.UseModelCollectives(new ThreadedCollectives(1).Rank(0)));
        }
        Assert.False(world.HasModelCollectives);
        Assert.Throws<ArgumentException>(() => world.UseModelCollectives(new ThreadedCollectives(2).Rank(1)));
    }

    [Fact]
    public void InPlaceReduceScatterIsNcclsInPlaceFormOrOneInPlaceReducePerShard()
    {
        const ulong b = 0x7f00_0000_0000;
        // Even: the receive address is the send address at the rank's shard (NCCL's in-place reduce-scatter).
        Assert.Equal([new NcclCall(NcclCallKind.ReduceScatter, b, b + 2 * 4 * 8, 4)], NcclCallPlan.ReduceScatterInPlace(b, ShardLayout.Even(12, 3), 2, 8));
        // Uneven (3, 3, 3, 1): each shard reduced in place onto its own rank, the same calls on every rank.
        var expected = new[]
        {
            new NcclCall(NcclCallKind.Reduce, b, b, 3, 0), new NcclCall(NcclCallKind.Reduce, b + 24, b + 24, 3, 1),
            new NcclCall(NcclCallKind.Reduce, b + 48, b + 48, 3, 2), new NcclCall(NcclCallKind.Reduce, b + 72, b + 72, 1, 3),
        };
        Assert.Equal(expected, NcclCallPlan.ReduceScatterInPlace(b, ShardLayout.Even(10, 4), 0, 8));
        Assert.Equal(expected, NcclCallPlan.ReduceScatterInPlace(b, ShardLayout.Even(10, 4), 3, 8));
        Assert.Empty(NcclCallPlan.ReduceScatterInPlace(b, ShardLayout.Even(0, 2), 1, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => NcclCallPlan.ReduceScatterInPlace(b, ShardLayout.Even(8, 2), 2, 8));
    }

    private static long Scored(PackedBatch b) => b.Labels.Skip(1).Count(l => l != -100);

    private static (float[] Parameters, double[] Losses) TrainOneProcess(Qwen2Fixture f, IReadOnlyList<PackedBatch> batches, int perStep)
    {
        using var world = TrainingWorld.Single();
        using var context = ComputeContext.CreateCpu(threads: 1);
        using var m = f.CreateModel(context, ComputeDType.Float32);
        var optimizer = new DataParallelOptimizer(m, world, 0);
        var losses = new double[Steps];
        for (int step = 0; step < Steps; step++)
        {
            var mine = batches.Skip(step * perStep).Take(perStep).ToList();
            long scored = mine.Sum(Scored);
            m.ZeroGradients();
            double sum = 0;
            foreach (var b in mine)
            {
                sum += m.ForwardBackward(b, 1.0 / scored).Sum;
                m.AccumulateGradients();
            }
            losses[step] = sum / scored;
            optimizer.Step(Options, step + 1);
        }
        var parameters = new float[m.ParameterCount];
        m.ReadParameters(parameters, 0);
        return (parameters, losses);
    }

    /// <summary>Micro-batches of one document each, 6-13 tokens, the first label of each ignored (seed 15).</summary>
    private static List<PackedBatch> Batches(int vocab, int count)
    {
        var random = new Random(15);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var tokens = Enumerable.Range(0, random.Next(6, 14)).Select(_ => random.Next(vocab)).ToArray();
            var labels = tokens.Select((t, i) => i == 0 ? -100 : t).ToArray();
            return new PackedBatch(tokens, labels, [tokens.Length]);
        }).ToList();
    }

    private static void AssertSameBits(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: parameter {i} is {actual[i]:R}, expected {expected[i]:R}");
    }
}
