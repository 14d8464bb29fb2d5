using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Engine.Kernels.Cpu;
using Engine.Merge.Config;
using Engine.Merge.Execution;
using Engine.Testing;

namespace Engine.Merge.Tests;

/// <summary>Whole merges through the executor: hand-computed cases, the float64 reference, multi-stage
/// plans, determinism.</summary>
public sealed class ArceeFusionMergeTests
{
    private static MergeResult Merge(TempDirectory dir, string yaml, string output, int threads = 2, string? keep = null)
    {
        string config = dir.Combine($"config-{Guid.NewGuid():N}.yml");
        File.WriteAllText(config, yaml);
        using var kernels = new CpuMergeKernels(threads);
        return new MergeExecutor(kernels).Run(MergeConfigReader.Load(config), new MergeRunOptions(dir.Combine(output)) { KeepIntermediatesPath = keep });
    }

    private static string FusionYaml(string baseModel, string other, string extra = "") =>
        $"merge_method: arcee_fusion\nbase_model: {baseModel}\nmodels:\n  - model: {other}\n{extra}";

    [Theory]
    [InlineData(1.5, new float[] { 0, 0, 0, 0, 2.0f })]
    [InlineData(0.0, new float[] { 0, 0, 0.2f, 0.3f, 2.0f })]
    public void HandComputedRowKeepsOnlyOutliersAndTiesAtTheThreshold(double lambda, float[] expected)
    {
        // One row; base all zero so importance = |P| * KL: sorted |P| = 0, .1, .2, .3, 2 gives Q25 = .1,
        // Q50 = .2, Q75 = .3 (ranks 1, 2, 3 of 5) and threshold KL * (.2 + lambda * .2).
        using var dir = new TempDirectory();
        TestModels.Write(dir.Combine("b"), DType.F32, [("w", [5], new float[5])]);
        TestModels.Write(dir.Combine("p"), DType.F32, [("w", [5], [0.3f, 0, 0.1f, 2.0f, 0.2f])]);
        var result = Merge(dir, FusionYaml(dir.Combine("b"), dir.Combine("p"), $"parameters:\n  lambda: {lambda}\n"), "out");
        var merged = TestModels.Read(dir.Combine("out"))["w"];
        var sortedBack = new[] { merged[1], merged[2], merged[4], merged[0], merged[3] };
        Assert.Equal(expected, sortedBack);
        var stats = result.Report.Tensors[0].Stages[0];
        Assert.Equal(expected.Count(v => v != 0), stats.Kept);
    }

    [Theory]
    [InlineData(DType.F32, 1)]
    [InlineData(DType.BF16, 2)]
    [InlineData(DType.F16, 3)]
    public void MatchesFloat64ReferenceOnRandomCheckpoints(DType dtype, int seed)
    {
        using var dir = new TempDirectory();
        var random = new Random(seed);
        (string, long[])[] shapes = [("model.embed_tokens.weight", [40, 24]), ("model.layers.0.mlp.up_proj.weight", [48, 24]), ("model.norm.weight", [24]), ("model.layers.0.self_attn.q_proj.bias", [24])];
        var baseValues = shapes.Select(s => TestModels.RandomValues(random, (int)s.Item2.Aggregate(1L, (a, d) => a * d), 0.05f)).ToArray();
        var otherValues = baseValues.Select(v => v.Select(x => x + (float)(random.NextDouble() * 2 - 1) * 0.01f).ToArray()).ToArray();
        TestModels.Write(dir.Combine("b"), dtype, shapes.Select((s, i) => (s.Item1, s.Item2, baseValues[i])));
        TestModels.Write(dir.Combine("p"), dtype, shapes.Select((s, i) => (s.Item1, s.Item2, otherValues[i])));
        Merge(dir, FusionYaml(dir.Combine("b"), dir.Combine("p")), "out");

        var stored = (b: TestModels.Read(dir.Combine("b")), p: TestModels.Read(dir.Combine("p")));
        var merged = TestModels.Read(dir.Combine("out"));
        using var model = ModelDirectory.Open(dir.Combine("out"));
        foreach (var (name, shape) in shapes)
        {
            Assert.Equal(dtype, model.GetTensor(name).Info.DType);
            var (importance, threshold, expected) = ArceeFusionReference.Merge(stored.p[name], stored.b[name], (int)shape[^1]);
            for (int i = 0; i < expected.Length; i++)
            {
                if (Math.Abs(importance[i] - threshold) <= Math.Abs(threshold) * 1e-5) continue;
                Assert.True(expected[i] == merged[name][i], $"{name}[{i}] ({dtype}, seed {seed}): expected {expected[i]:R}, got {merged[name][i]:R}");
            }
        }
    }

    [Fact]
    public void MultiStagePlanEqualsTwoSeparateMergesAndKeepsIntermediates()
    {
        using var dir = new TempDirectory();
        var spec = SyntheticModelSpec.Tiny;
        foreach (var (name, seed) in new (string, ulong)[] { ("math", 1), ("science", 2), ("coding", 3) })
            SyntheticCheckpoint.Write(dir.Combine(name), spec, 5, seed);
        string plan = $"name: mid\n{FusionYaml(dir.Combine("science"), dir.Combine("math"), "dtype: bfloat16\n")}---\n{FusionYaml(dir.Combine("coding"), "mid", "dtype: bfloat16\n")}";
        Merge(dir, plan, "plan-out", keep: dir.Combine("kept"));
        Merge(dir, FusionYaml(dir.Combine("science"), dir.Combine("math"), "dtype: bfloat16\n"), "stage1");
        Merge(dir, FusionYaml(dir.Combine("coding"), dir.Combine("stage1"), "dtype: bfloat16\n"), "stage2");

        var planFiles = TestModels.Files(dir.Combine("plan-out"));
        var twoStep = TestModels.Files(dir.Combine("stage2"));
        Assert.Equal(twoStep["model.safetensors"], planFiles["model.safetensors"]);
        Assert.Equal(TestModels.Files(dir.Combine("stage1"))["model.safetensors"], TestModels.Files(dir.Combine("kept", "mid"))["model.safetensors"]);
    }

    [Fact]
    public void OutputIsBitIdenticalForAnyThreadCount()
    {
        using var dir = new TempDirectory();
        var spec = SyntheticModelSpec.Tiny with { HiddenSize = 96, IntermediateSize = 200, VocabSize = 700 };
        SyntheticCheckpoint.Write(dir.Combine("b"), spec, 9, null);
        SyntheticCheckpoint.Write(dir.Combine("p"), spec, 9, 4);
        var outputs = new[] { 1, 2, 3 }.Select(t =>
        {
            Merge(dir, FusionYaml(dir.Combine("b"), dir.Combine("p")), $"out{t}", threads: t);
            return TestModels.Files(dir.Combine($"out{t}"), "merge-report.json", "mergekit_config.yml", "README.md");
        }).ToList();
        foreach (var other in outputs.Skip(1))
        {
            Assert.Equal(outputs[0].Keys.Order(), other.Keys.Order());
            foreach (var (file, bytes) in outputs[0]) Assert.True(bytes.AsSpan().SequenceEqual(other[file]), $"{file} differs between thread counts");
        }
    }

    [Fact]
    public void VocabMismatchTruncatesToCommonRowsAndReportsIt()
    {
        using var dir = new TempDirectory();
        var random = new Random(3);
        TestModels.Write(dir.Combine("b"), DType.F32, [("model.embed_tokens.weight", [10, 4], TestModels.RandomValues(random, 40))]);
        TestModels.Write(dir.Combine("p"), DType.F32, [("model.embed_tokens.weight", [12, 4], TestModels.RandomValues(random, 48))]);
        var result = Merge(dir, FusionYaml(dir.Combine("b"), dir.Combine("p")), "out");
        using var model = ModelDirectory.Open(dir.Combine("out"));
        Assert.Equal(new long[] { 10, 4 }, model.GetTensor("model.embed_tokens.weight").Info.Shape.ToArray());
        Assert.Contains("truncated to the common 10 rows", result.Report.Tensors[0].Notes![0]);
    }

    [Fact]
    public void OutputCarriesConfigWithDTypeTokenizerCardAndReport()
    {
        using var dir = new TempDirectory();
        SyntheticCheckpoint.Write(dir.Combine("b"), SyntheticModelSpec.Tiny with { DType = DType.F32 }, 1, null);
        SyntheticCheckpoint.Write(dir.Combine("p"), SyntheticModelSpec.Tiny with { DType = DType.F32 }, 1, 2);
        Merge(dir, FusionYaml(dir.Combine("b"), dir.Combine("p"), "out_dtype: bfloat16\n"), "out");
        var config = JsonNode.Parse(File.ReadAllText(dir.Combine("out", "config.json")))!;
        Assert.Equal("bfloat16", config["torch_dtype"]!.GetValue<string>());
        foreach (var file in new[] { "tokenizer_config.json", "generation_config.json", "README.md", "mergekit_config.yml", "merge-report.json" })
            Assert.True(File.Exists(dir.Combine("out", file)), file);
        using var model = ModelDirectory.Open(dir.Combine("out"));
        Assert.All(model.Tensors, t => Assert.Equal(DType.BF16, t.Info.DType));
        var report = JsonNode.Parse(File.ReadAllText(dir.Combine("out", "merge-report.json")))!;
        var stage = report["tensors"]![0]!["stages"]![0]!;
        foreach (var key in new[] { "kept_fraction", "threshold", "q25", "q50", "q75", "kl_min", "kl_mean", "kl_max" }) Assert.NotNull(stage[key]);
        Assert.NotNull(report["tensors"]![0]!["time_ms"]);
        Assert.StartsWith("cpu", report["device"]!.GetValue<string>());
        // The typed report reads the file back: typed statistics lifted out, the method's others kept by name.
        var typed = MergeReport.Read(dir.Combine("out"));
        Assert.Equal(stage["kept_fraction"]!.GetValue<double>(), typed.Tensors[0].Stages[0].KeptFraction);
        Assert.Equal(stage["q25"]!.GetValue<double>(), typed.Tensors[0].Stages[0].Statistics!["q25"]!.GetValue<double>());
        Assert.Equal(report["tensors"]!.AsArray().Count, typed.Tensors.Count);
        Assert.True(JsonNode.DeepEquals(report, JsonNode.Parse(typed.ToJsonText())));
    }

    [Fact]
    public void SampledQuantilesRepeatForTheSameSeed()
    {
        using var dir = new TempDirectory();
        SyntheticCheckpoint.Write(dir.Combine("b"), SyntheticModelSpec.Tiny, 1, null);
        SyntheticCheckpoint.Write(dir.Combine("p"), SyntheticModelSpec.Tiny, 1, 2);
        string yaml = FusionYaml(dir.Combine("b"), dir.Combine("p"), "quantiles: sampled\ncompute_dtype: bfloat16\nseed: 7\n");
        Merge(dir, yaml, "a");
        Merge(dir, yaml, "c");
        Assert.Equal(TestModels.Files(dir.Combine("a"))["model.safetensors"], TestModels.Files(dir.Combine("c"))["model.safetensors"]);
    }

    [Fact]
    public void CancellationLeavesNothingAtTheOutput()
    {
        using var dir = new TempDirectory();
        SyntheticCheckpoint.Write(dir.Combine("b"), SyntheticModelSpec.Tiny, 1, null);
        SyntheticCheckpoint.Write(dir.Combine("p"), SyntheticModelSpec.Tiny, 1, 2);
        string config = dir.Combine("c.yml");
        File.WriteAllText(config, FusionYaml(dir.Combine("b"), dir.Combine("p")));
        using var cts = new CancellationTokenSource();
        var progress = new SynchronousProgress(p => { if (p.Done == 3) cts.Cancel(); });
        using var kernels = new CpuMergeKernels(1);
        Assert.ThrowsAny<OperationCanceledException>(() =>
            new MergeExecutor(kernels).Run(MergeConfigReader.Load(config), new MergeRunOptions(dir.Combine("out")), progress, cts.Token));
        Assert.False(Directory.Exists(dir.Combine("out")));
        Assert.Empty(Directory.GetDirectories(dir.Path, ".out.partial-*"));
    }

    [Fact]
    public void DTypeCastsInputsBeforeTheMath()
    {
        using var dir = new TempDirectory();
        var random = new Random(11);
        var b = TestModels.RandomValues(random, 96, 0.05f);
        var p = b.Select(v => v + (float)random.NextDouble() * 0.01f).ToArray();
        TestModels.Write(dir.Combine("b32"), DType.F32, [("w", [8, 12], b)]);
        TestModels.Write(dir.Combine("p32"), DType.F32, [("w", [8, 12], p)]);
        TestModels.Write(dir.Combine("b16"), DType.BF16, [("w", [8, 12], b)]);
        TestModels.Write(dir.Combine("p16"), DType.BF16, [("w", [8, 12], p)]);
        Merge(dir, FusionYaml(dir.Combine("b32"), dir.Combine("p32"), "dtype: bfloat16\n"), "cast");
        Merge(dir, FusionYaml(dir.Combine("b16"), dir.Combine("p16")), "native");
        Assert.Equal(TestModels.Files(dir.Combine("native"))["model.safetensors"], TestModels.Files(dir.Combine("cast"))["model.safetensors"]);
    }

    [Fact]
    public void LambdaFollowsFiltersAndLayerGradients()
    {
        using var dir = new TempDirectory();
        var spec = SyntheticModelSpec.Tiny with { Layers = 3 };
        SyntheticCheckpoint.Write(dir.Combine("b"), spec, 1, null);
        SyntheticCheckpoint.Write(dir.Combine("p"), spec, 1, 2);
        string lambda = "parameters:\n  lambda:\n    - filter: mlp\n      value: [0.0, 1.0, 2.0]\n    - value: 1.5\n";
        var report = Merge(dir, FusionYaml(dir.Combine("b"), dir.Combine("p"), lambda), "out").Report;
        double LambdaOf(string name) => report.Tensors.Single(t => t.Name == name).Stages[0].Lambda!.Value;
        Assert.Equal(0.0, LambdaOf("model.layers.0.mlp.up_proj.weight"));
        Assert.Equal(1.0, LambdaOf("model.layers.1.mlp.up_proj.weight"));
        Assert.Equal(2.0, LambdaOf("model.layers.2.mlp.down_proj.weight"));
        Assert.Equal(1.5, LambdaOf("model.layers.1.self_attn.q_proj.weight"));
        Assert.Equal(1.5, LambdaOf("model.embed_tokens.weight"));
    }

    private sealed class SynchronousProgress(Action<MergeProgress> report) : IProgress<MergeProgress>
    {
        public void Report(MergeProgress value) => report(value);
    }
}
