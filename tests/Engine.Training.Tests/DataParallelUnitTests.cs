using System.Runtime.InteropServices;
using Engine.Core;
using Engine.Interop.Trainer;
using Engine.Testing;
using Engine.Training.Data;
using Engine.Training.Distributed;
using Engine.Training.Sft;

namespace Engine.Training.Tests;

/// <summary>The parts of data-parallel training that run in one process: the data sharder, shard layouts, the
/// ranged native AdamW and gradient accumulator ZeRO-1 rests on, the ABI contract, the memory plan, and the
/// run-level refusals (output overlapping the model, no label tokens).</summary>
public sealed class DataParallelUnitTests
{
    private static List<TrainingSequence> Sequences(int count, int seed = 1)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(i =>
        {
            int n = random.Next(3, 9);
            var tokens = Enumerable.Range(0, n).Select(_ => random.Next(40)).ToArray();
            return new TrainingSequence(tokens, tokens.Select((t, j) => j == 0 ? PackedBatch.IgnoreIndex : t).ToArray(), [n]);
        }).ToList();
    }

    [Theory]
    [InlineData(2, 1, 3)]
    [InlineData(3, 2, 1)]
    [InlineData(4, 1, 2)]
    public void RanksTogetherSeeTheMicroBatchesOfOneProcessWithTheirAccumulation(int ranks, int batchSize, int gradAccum)
    {
        var sequences = Sequences(23);
        var single = new BatchSchedule(sequences, batchSize, gradAccum * ranks, seed: 5, ranks: 1, rank: 0);
        var perRank = Enumerable.Range(0, ranks).Select(r => new BatchSchedule(sequences, batchSize, gradAccum, seed: 5, ranks, r)).ToList();
        Assert.All(perRank, s => Assert.Equal(single.StepsPerEpoch, s.StepsPerEpoch));
        for (long step = 1; step <= 2 * single.StepsPerEpoch; step++)
        {
            var expected = single.For(step);
            var parts = perRank.Select(s => s.For(step)).ToList();
            Assert.All(parts, p => Assert.Equal((expected.GlobalScoredTokens, expected.GlobalTokens), (p.GlobalScoredTokens, p.GlobalTokens)));
            var joined = parts.SelectMany(p => p.MicroBatches).ToList();
            Assert.Equal(expected.MicroBatches.Count, joined.Count);
            for (int i = 0; i < joined.Count; i++)
            {
                Assert.Equal(expected.MicroBatches[i].Tokens, joined[i].Tokens);
                Assert.Equal(expected.MicroBatches[i].DocumentLengths, joined[i].DocumentLengths);
            }
        }
    }

    [Fact]
    public void EvenShardsCoverTheBufferInRankOrder()
    {
        var layout = ShardLayout.Even(10, 4);
        Assert.Equal([3L, 3, 3, 1], layout.Counts.ToArray());
        Assert.Equal([0L, 3, 6, 9], layout.Offsets.ToArray());
        Assert.Equal([1L, 1, 0], ShardLayout.Even(2, 3).Counts.ToArray());
        Assert.Equal(10, layout.Total);
    }

    [Fact]
    public void AbiVersionAndStructSizesMatchTheBinding()
    {
        Assert.Equal(5, TrainerImports.eng_abi_version());
        TrainerImports.eng_abi_struct_sizes(out var sizes);
        Assert.Equal(Marshal.SizeOf<EngContextOptions>(), sizes.ContextOptions);
        Assert.Equal(Marshal.SizeOf<EngModelConfig>(), sizes.ModelConfig);
        Assert.Equal(Marshal.SizeOf<EngBatch>(), sizes.Batch);
        Assert.Equal(Marshal.SizeOf<EngAdamWOptions>(), sizes.AdamWOptions);
        Assert.Equal(Marshal.SizeOf<EngTensorInfo>(), sizes.TensorInfo);
        Assert.Equal(Marshal.SizeOf<EngOpCheck>(), sizes.OpCheck);
        Assert.Equal(Marshal.SizeOf<EngProfileRecord>(), sizes.ProfileRecord);
    }

    [Fact]
    public void ShardedAdamWUpdatesEqualTheWholeStep()
    {
        var f = Qwen2Fixture.Load("untied_gqa");
        using var context = ComputeContext.CreateCpu(threads: 2);
        using var whole = f.CreateModel(context, ComputeDType.Float32);
        using var sharded = f.CreateModel(context, ComputeDType.Float32);
        long total = whole.ParameterCount;
        Assert.Equal(total, f.Config.ParameterCount);
        var layout = ShardLayout.Even(total, 3);
        var options = new AdamWOptions(1e-2, 0.9, 0.95, 1e-8, 0.1, maxGradNorm: 0.5);
        var shards = new List<float[]>();
        for (long step = 1; step <= 3; step++)
        {
            foreach (var m in new[] { whole, sharded })
            {
                m.ZeroGradients();
                m.ForwardBackward(f.Batch, 1.0 / f.Batch.ScoredTokens);
                m.AccumulateGradients();
            }
            whole.FlushGradients(0, total);
            double norm = whole.AdamWStep(options, step);
            sharded.FlushGradients(0, total);
            double sq = Enumerable.Range(0, 3).Sum(r => sharded.GradientSquaredNorm(layout.Offset(r), layout.Count(r)));
            Assert.Equal(norm, Math.Sqrt(sq), 1e-12);
            double scale = Math.Min(1.0, 0.5 / (norm + 1e-6));
            // Each "rank" keeps the moments of its shard only: save and restore them around its update.
            for (int r = 0; r < 3; r++)
            {
                sharded.SetOptimizerRange(layout.Offset(r), layout.Count(r));
                Assert.Equal((layout.Offset(r), layout.Count(r)), sharded.OptimizerRange);
                if (step > 1)
                {
                    sharded.WriteBuffer(ModelBuffer.AdamFirstMoment, shards[2 * r], layout.Offset(r));
                    sharded.WriteBuffer(ModelBuffer.AdamSecondMoment, shards[2 * r + 1], layout.Offset(r));
                }
                sharded.AdamWUpdate(options, step, scale, layout.Offset(r), layout.Count(r));
                var m = new float[layout.Count(r)];
                var v = new float[layout.Count(r)];
                sharded.ReadBuffer(ModelBuffer.AdamFirstMoment, m, layout.Offset(r));
                sharded.ReadBuffer(ModelBuffer.AdamSecondMoment, v, layout.Offset(r));
                if (step == 1) shards.AddRange([m, v]);
                else (shards[2 * r], shards[2 * r + 1]) = (m, v);
            }
            var expected = new float[total];
            var actual = new float[total];
            whole.ReadBuffer(ModelBuffer.Parameters, expected, 0);
            sharded.ReadBuffer(ModelBuffer.Parameters, actual, 0);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"step {step}: sharded AdamW differs from the whole step");
        }
        var outside = Assert.Throws<NativeTrainerException>(() => sharded.ReadBuffer(ModelBuffer.AdamFirstMoment, new float[1], 0));
        Assert.Contains("outside the optimizer range", outside.Message);
    }

    [Fact]
    public void AccumulatingInFloat64DoesNotDependOnTheSplit()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var context = ComputeContext.CreateCpu(threads: 1);
        using var a = f.CreateModel(context, ComputeDType.Float32);
        using var b = f.CreateModel(context, ComputeDType.Float32);
        var halves = new[] { f.Batch, f.Batch };
        foreach (var batch in halves)
        {
            a.ForwardBackward(batch, 0.5);
            a.AccumulateGradients();
        }
        b.ForwardBackward(f.Batch, 0.5);
        b.AccumulateGradients();
        b.ForwardBackward(f.Batch, 0.5);
        b.AccumulateGradients();
        a.FlushGradients(0, a.ParameterCount);
        b.FlushGradients(0, b.ParameterCount);
        var ga = new double[a.ParameterCount];
        var gb = new double[b.ParameterCount];
        a.ReadGradients(ga, 0);
        b.ReadGradients(gb, 0);
        Assert.Equal(ga, gb);
        // The flush zeroed the accumulator: flushing again gives zeros.
        a.FlushGradients(0, a.ParameterCount);
        a.ReadGradients(ga, 0);
        Assert.All(ga, g => Assert.Equal(0.0, g));
    }

    [Fact]
    public void ActivationBytesGrowWithTokensAndPlanNamesTheKnobs()
    {
        var f = Qwen2Fixture.Load("untied_gqa");
        long small = Qwen2Model.ActivationBytes(f.Config, 16), large = Qwen2Model.ActivationBytes(f.Config, 1024);
        Assert.True(large > small && small > 0);
        var stage0 = MemoryPlan.For(f.Config, 1_000_000_000, 4096, ranks: 2, zeroStage: 0);
        var stage1 = MemoryPlan.For(f.Config, 1_000_000_000, 4096, ranks: 2, zeroStage: 1);
        Assert.Equal(8_000_000_000, stage0.OptimizerBytes);
        Assert.Equal(8_000_000_000L, stage1.OptimizerBytes);
        var error = Assert.Throws<EngineException>(() => stage0.CheckFits(ranksOnThisMachine: 2, availableBytes: 10_000_000_000, ranks: 2));
        Assert.StartsWith("sft: the run does not fit this machine: 2 rank(s) here x ", error.Message);
        Assert.Contains("try --zero-stage 1, or more ranks on other machines", error.Message);
        stage1.CheckFits(1, 100_000_000_000, 2);
    }

    [Fact]
    public void OutputOverlappingTheModelIsRefusedBeforeAnyWrite()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var temp = new TempDirectory();
        string model = LossCommandTests.WriteModel(temp, f);
        var examples = new List<TokenizedExample> { new(1, f.Tokens, f.Labels) };
        var before = Directory.GetFileSystemEntries(model).Order().ToArray();
        foreach (string outDir in new[] { model, Path.Combine(model, "runs"), temp.Path, model + "/" })
        {
            var error = Assert.Throws<EngineException>(() => SftTrainer.Run(model, examples, outDir, new SftOptions(1e-3, maxSteps: 1, seqLen: 32)));
            Assert.Contains("overlaps --model", error.Message);
        }
        Assert.Equal(before, Directory.GetFileSystemEntries(model).Order().ToArray());
    }

    [Fact]
    public void SecondRunIntoTheSameOutputFailsBeforeAnyWork()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var temp = new TempDirectory();
        string model = LossCommandTests.WriteModel(temp, f);
        string outDir = temp.Combine("out");
        using var first = Core.Model.OutputLock.Acquire(outDir);
        var error = Assert.Throws<Core.OutputException>(() =>
            SftTrainer.Run(model, [new TokenizedExample(1, f.Tokens, f.Labels)], outDir, new SftOptions(1e-3, maxSteps: 1, seqLen: 32)));
        Assert.Contains("another process is writing this output", error.Message);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void RunWithoutLabelTokensStopsBeforeTraining()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var temp = new TempDirectory();
        string model = LossCommandTests.WriteModel(temp, f);
        // Labels only after position 4: a --seq-len of 3 cuts every one of them.
        var examples = new List<TokenizedExample> { new(1, f.Tokens[..10], f.Tokens[..10].Select((t, i) => i < 4 ? -100 : t).ToArray()) };
        string outDir = temp.Combine("out");
        var error = Assert.Throws<EngineException>(() => SftTrainer.Run(model, examples, outDir, new SftOptions(1e-3, maxSteps: 2, seqLen: 3)));
        Assert.StartsWith("sft: no step has a label token to learn from", error.Message);
        Assert.False(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any());
    }
}
