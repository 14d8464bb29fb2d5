using System.Text.Json.Nodes;
using Engine.Testing;
using Engine.Training.Distributed;
using Engine.Training.Sft;

namespace Engine.Training.Tests;

/// <summary>Op profiling of a training step on the CPU backend (the native trainer's steady clock around each op;
/// a GPU times each kernel with CUDA events through the same ABI): the records name every op with its layer and pass,
/// the shares of <see cref="StepProfile"/> sum to 1, profiling changes no result, and <c>bench sft --profile</c>
/// writes a trace that parses and reports the slowest five.</summary>
public sealed class StepProfileTests
{
    [Fact]
    public void AProfiledStepNamesEveryOpWithItsLayerAndPassAndTheSharesSumToOne()
    {
        var f = Qwen2Fixture.Load("untied_gqa");
        using var world = TrainingWorld.Single();
        using var context = ComputeContext.CreateCpu(threads: 1);
        using var model = f.CreateModel(context, ComputeDType.Float32);
        var optimizer = new DataParallelOptimizer(model, world, 0);
        var batch = new PackedBatch(f.Tokens, f.Labels, f.DocumentLengths);
        Assert.Empty(model.ReadProfile());  // off by default

        model.SetProfiling(true);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        model.ZeroGradients();
        model.ForwardBackward(batch, 0.1);
        model.AccumulateGradients();
        optimizer.Step(f.AdamW, 1);
        double seconds = clock.Elapsed.TotalSeconds;
        var ops = model.ReadProfile();

        foreach (string op in new[] { "embedding_forward", "rmsnorm_forward", "matmul_forward", "rope_forward", "attention_forward", "swiglu_forward",
                     "classifier_ce", "attention_backward", "matmul_backward", "rmsnorm_backward", "embedding_backward", "accumulate_grads",
                     "flush_grads", "grad_sqnorm", "adamw" })
            Assert.Contains(ops, o => o.Op == op);
        for (int l = 0; l < f.Config.NumLayers; l++)
        {
            Assert.Equal(1, ops.Count(o => o.Op == "attention_forward" && o.Layer == l && o.Pass == OpPass.Forward));
            Assert.Equal(1, ops.Count(o => o.Op == "attention_backward" && o.Layer == l && o.Pass == OpPass.Backward));
            // q, k, v, o, gate, up, down per layer.
            Assert.Equal(7, ops.Count(o => o.Op == "matmul_forward" && o.Layer == l));
        }
        Assert.All(ops.Where(o => o.Op is "classifier_ce"), o => Assert.Equal((-1, OpPass.Loss), (o.Layer, o.Pass)));
        Assert.All(ops.Where(o => o.Op is "adamw" or "flush_grads"), o => Assert.Equal(OpPass.Optimizer, o.Pass));
        Assert.All(ops, o => Assert.True(o.DurationMicroseconds >= 0 && o.StartMicroseconds >= 0, $"{o.Op}: {o.StartMicroseconds} + {o.DurationMicroseconds}"));
        for (int i = 1; i < ops.Count; i++)
            Assert.True(ops[i].StartMicroseconds >= ops[i - 1].StartMicroseconds + ops[i - 1].DurationMicroseconds - 1e-6, $"op {i} ({ops[i].Op}) starts before op {i - 1} ends");

        var profile = new StepProfile(ops, seconds, "cpu");
        Assert.Equal(1.0, profile.ByOp.Sum(s => s.Share), 9);
        Assert.Equal(ops.Count, profile.ByOp.Sum(s => s.Calls));
        var slowest = profile.Slowest();
        Assert.Equal(5, slowest.Count);
        for (int i = 1; i < slowest.Count; i++) Assert.True(slowest[i - 1].Microseconds >= slowest[i].Microseconds);
        Assert.InRange(profile.Coverage, 1e-6, 1.0);

        model.SetProfiling(false);
        Assert.Empty(model.ReadProfile());
    }

    [Fact]
    public void ProfilingChangesNoResult()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var context = ComputeContext.CreateCpu(threads: 2);
        using var plain = f.CreateModel(context, ComputeDType.Float32);
        using var profiled = f.CreateModel(context, ComputeDType.Float32);
        profiled.SetProfiling(true);
        var batch = new PackedBatch(f.Tokens, f.Labels, f.DocumentLengths);
        double a = plain.ForwardBackward(batch, 0.1).Sum, b = profiled.ForwardBackward(batch, 0.1).Sum;
        Assert.Equal(BitConverter.DoubleToInt64Bits(a), BitConverter.DoubleToInt64Bits(b));
        var ga = new double[plain.ParameterCount];
        var gb = new double[profiled.ParameterCount];
        plain.ReadGradients(ga, 0);
        profiled.ReadGradients(gb, 0);
        Assert.Equal(ga, gb);
        Assert.NotEmpty(profiled.ReadProfile());
    }

    [Fact]
    public void BenchSftProfileWritesAParseableTraceAndTheSlowestFive()
    {
        using var temp = new TempDirectory();
        string trace = temp.Combine("trace.json");

        var run = EngineProcess.Run("bench", "sft", "--hidden", "64", "--intermediate", "128", "--layers", "2", "--heads", "4", "--kv-heads", "2",
            "--vocab", "256", "--docs", "2", "--doc-len", "16", "--threads", "1", "--repeat", "1", "--profile", trace, "--json");

        Assert.True(run.ExitCode == 0, run.Stderr);
        var report = JsonNode.Parse(run.Stdout.Trim())!;
        var profile = report["profile"]!;
        Assert.Equal("cpu", (string)profile["device"]!);
        var slowest = profile["slowest"]!.AsArray();
        Assert.Equal(5, slowest.Count);
        double shares = slowest.Sum(s => (double)s!["share"]!);
        Assert.InRange(shares, 0.05, 1.0001);
        Assert.Null(report["profile_lines"]);
        var events = JsonNode.Parse(File.ReadAllText(trace))!["traceEvents"]!.AsArray();
        var ops = events.Where(e => (string?)e!["cat"] == "op").ToList();
        Assert.Equal((int)profile["ops"]!, ops.Count);
        Assert.Contains(ops, e => (string)e!["name"]! == "attention_backward" && ((string)e["args"]!["detail"]!).Contains("layer 1"));
        Assert.Single(events, e => (string?)e!["cat"] == "step");
        Assert.Contains(events, e => (string?)e!["ph"] == "M" && (string?)e["args"]?["name"] == "cpu ops");
        Assert.Contains((string)slowest[0]!["op"]!, ops.Select(e => (string)e!["name"]!));
    }

    [Fact]
    public void SftProfileTracesItsSecondStepAndTrainsTheSameModel()
    {
        using var temp = new TempDirectory();
        var (model, data) = DataParallelFixture.Write(temp);
        string trace = temp.Combine("sft-trace.json");

        var plain = EngineProcess.Run(DataParallelFixture.Sft(model, data, temp.Combine("plain")));
        var profiled = EngineProcess.Run(DataParallelFixture.Sft(model, data, temp.Combine("profiled"), "--profile", trace));

        Assert.True(plain.ExitCode == 0, plain.Stderr);
        Assert.True(profiled.ExitCode == 0, profiled.Stderr);
        Assert.Contains("engine sft: profile of one step on cpu:", profiled.Stderr);
        Assert.Contains($"written to {trace}", profiled.Stderr);
        var events = JsonNode.Parse(File.ReadAllText(trace))!["traceEvents"]!.AsArray();
        Assert.Contains(events, e => (string?)e!["cat"] == "step" && ((string)e["args"]!["detail"]!).StartsWith("step 2 on cpu"));
        Assert.Contains(events, e => (string?)e!["cat"] == "op" && (string?)e["name"] == "adamw");
        Assert.Equal(File.ReadAllBytes(Path.Combine(temp.Combine("plain"), "checkpoint-4", "optimizer", "params.f32")),
            File.ReadAllBytes(Path.Combine(temp.Combine("profiled"), "checkpoint-4", "optimizer", "params.f32")));
        Assert.Equal(2, SftTrainer.ProfiledStep(0, 4));
        Assert.Equal(1, SftTrainer.ProfiledStep(0, 1));
        Assert.Equal(7, SftTrainer.ProfiledStep(5, 9));
    }
}
