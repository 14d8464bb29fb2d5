using System.Text.Json.Nodes;
using Engine.Core.Model;
using Engine.Kernels.Cpu;
using Engine.Merge.Config;
using Engine.Merge.Execution;
using Engine.Merge.Methods;
using Engine.Testing;

namespace Engine.Merge.Tests.Methods;

/// <summary>The methods through the executor and the <c>engine</c> command on synthetic checkpoints.</summary>
public sealed class MethodEndToEndTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public MethodEndToEndTests()
    {
        var spec = SyntheticModelSpec.Tiny;
        SyntheticCheckpoint.Write(_dir.Combine("base"), spec, 1, null);
        for (int i = 0; i < 3; i++) SyntheticCheckpoint.Write(_dir.Combine($"e{i}"), spec, 1, (ulong)(10 + i));
    }

    public void Dispose() => _dir.Dispose();

    private string Model(string name) => _dir.Combine(name);

    private string WriteConfig(string name, string yaml)
    {
        string path = _dir.Combine(name);
        File.WriteAllText(path, yaml);
        return path;
    }

    private string TiesYaml(string? name) =>
        (name is null ? "" : $"name: {name}\n") +
        $"merge_method: ties\nbase_model: {Model("base")}\nmodels:\n" +
        $"  - model: {Model("e0")}\n    parameters: {{ weight: 0.6, density: 0.5 }}\n" +
        $"  - model: {Model("e1")}\n    parameters: {{ weight: 0.4, density: [0.3, 0.7] }}\n";

    private string SlerpYaml(string baseModel) => $"""
        merge_method: slerp
        base_model: {baseModel}
        models:
          - model: {baseModel}
          - model: {Model("e2")}
        parameters:
          t:
            - filter: self_attn
              value: [0.2, 0.8]
            - value: 0.5
        """;

    [Fact]
    public void MultiStagePlanWithDifferentMethodsEqualsSeparateMerges()
    {
        var executor = new MergeExecutor(new CpuMergeKernels());
        string plan = WriteConfig("plan.yml", TiesYaml("mid") + "\n---\n" + SlerpYaml("mid"));
        executor.Run(MergeConfigReader.Load(plan), new MergeRunOptions(_dir.Combine("out-plan")));

        executor.Run(MergeConfigReader.Load(WriteConfig("stage1.yml", TiesYaml(null))), new MergeRunOptions(_dir.Combine("out-stage1")));
        executor.Run(MergeConfigReader.Load(WriteConfig("stage2.yml", SlerpYaml(_dir.Combine("out-stage1")))), new MergeRunOptions(_dir.Combine("out-stage2")));

        using var combined = ModelDirectory.Open(_dir.Combine("out-plan"));
        using var separate = ModelDirectory.Open(_dir.Combine("out-stage2"));
        using var baseModel = ModelDirectory.Open(Model("base"));
        Assert.Equal(separate.Tensors.Count, combined.Tensors.Count);
        int differentFromBase = 0;
        foreach (var t in separate.Tensors)
        {
            using var a = t.Read();
            using var b = combined.GetTensor(t.Name).Read();
            Assert.True(a.Bytes.SequenceEqual(b.Bytes), $"tensor {t.Name} differs between the plan and separate merges");
            using var c = baseModel.GetTensor(t.Name).Read();
            if (!a.Bytes.SequenceEqual(c.Bytes)) differentFromBase++;
        }
        Assert.Equal(separate.Tensors.Count, differentFromBase);
    }

    [Theory]
    [InlineData("dare_ties", "parameters: {weight: 0.5, density: 0.4}", "{}")]
    [InlineData("model_stock", "", "{}")]
    [InlineData("karcher", "", "{}")]
    [InlineData("della_linear", "parameters: {weight: 0.5, density: 0.5}", "{epsilon: 0.1}")]
    [InlineData("sce", "", "{select_topk: 0.5}")]
    public void EngineMergeRunsTheMethod(string method, string modelParameters, string globals)
    {
        string yaml = $"merge_method: {method}\nbase_model: {Model("base")}\nseed: 3\nmodels:\n" +
            string.Concat(Enumerable.Range(0, 3).Select(i => $"  - model: {Model($"e{i}")}\n" + (modelParameters == "" ? "" : $"    {modelParameters}\n"))) +
            $"parameters: {globals}\n";
        string config = WriteConfig($"{method}.yml", yaml);
        var result = EngineProcess.Run("merge", config, "--out", _dir.Combine($"out-{method}"), "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var report = JsonNode.Parse(result.Stdout)!;
        Assert.Equal(method, report["stages"]![0]!["method"]!.GetValue<string>());
        using var merged = ModelDirectory.Open(_dir.Combine($"out-{method}"));
        Assert.Equal(SyntheticModelSpec.Tiny.Tensors().Count, merged.Tensors.Count);

        // Seeded: the same config gives the same bytes.
        var again = EngineProcess.Run("merge", config, "--out", _dir.Combine($"out-{method}-again"), "--json");
        Assert.True(again.ExitCode == 0, again.Stderr);
        using var second = ModelDirectory.Open(_dir.Combine($"out-{method}-again"));
        foreach (var t in merged.Tensors)
        {
            using var a = t.Read();
            using var b = second.GetTensor(t.Name).Read();
            Assert.True(a.Bytes.SequenceEqual(b.Bytes), $"{method}: tensor {t.Name} differs between runs");
        }
    }

    [Fact]
    public void EngineMergeReportsAConfigErrorOnOneLine()
    {
        string config = WriteConfig("bad.yml", $"merge_method: slerp\nbase_model: {Model("base")}\nmodels: [{Model("base")}, {Model("e0")}]\n");
        var result = EngineProcess.Run("merge", config, "--out", _dir.Combine("out-bad"));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("slerp needs parameter 't'", result.Stderr);
        Assert.False(Directory.Exists(_dir.Combine("out-bad")));
    }

    [Fact]
    public void EngineMethodsListsEveryMethodWithParametersAndFormula()
    {
        var result = EngineProcess.Run("methods", "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var methods = JsonNode.Parse(result.Stdout)!.AsArray();
        var names = methods.Select(m => m!["name"]!.GetValue<string>()).ToList();
        string[] expected =
        [
            "linear", "task_arithmetic", "ties", "dare_ties", "dare_linear", "slerp", "breadcrumbs", "breadcrumbs_ties", "della",
            "della_linear", "model_stock", "nuslerp", "multislerp", "karcher", "sce", "nearswap", "ram", "ramplus_tl", "passthrough", "arcee_fusion",
        ];
        Assert.Equal(expected.Order(), names.Order());
        Assert.All(methods, m => Assert.False(string.IsNullOrWhiteSpace(m!["formula"]!.GetValue<string>())));
        var ties = methods.Single(m => m!["name"]!.GetValue<string>() == "ties")!;
        var density = ties["parameters"]!.AsArray().Single(p => p!["name"]!.GetValue<string>() == "density")!;
        Assert.Equal("per_model", density["scope"]!.GetValue<string>());
        Assert.Equal(1.0, density["default"]!.GetValue<double>());
        var weight = ties["parameters"]!.AsArray().Single(p => p!["name"]!.GetValue<string>() == "weight")!;
        Assert.True(weight["required"]!.GetValue<bool>());
        Assert.Equal(MergeMethodRegistry.Names.Count(), methods.Count);
    }
}
