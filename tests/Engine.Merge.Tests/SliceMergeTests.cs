using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Kernels;
using Engine.Kernels.Cpu;
using Engine.Merge.Config;
using Engine.Merge.Execution;
using Engine.Merge.Methods;
using Engine.Testing;

namespace Engine.Merge.Tests;

/// <summary>mergekit's <c>slices:</c> through the executor, with its own example configs
/// (<c>examples/gradient-slerp.yml</c>, <c>examples/orcamini-platy-44layer.yml</c>) adapted to small generated
/// models, frankenmerges of every architecture layout, and the errors a sliced config can make.</summary>
public sealed class SliceMergeTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Config(string name, string yaml)
    {
        string path = _dir.Combine(name);
        File.WriteAllText(path, yaml);
        return path;
    }

    private Dictionary<string, float[]> Merge(string yaml, string output, IMergeKernels? kernels = null)
    {
        using var owned = kernels is null ? new CpuMergeKernels(2) : null;
        new MergeExecutor(kernels ?? owned!).Run(MergeConfigReader.Load(Config(output + ".yml", yaml)), new MergeRunOptions(_dir.Combine(output)));
        return TestModels.Read(_dir.Combine(output));
    }

    private JsonObject OutputConfig(string output) => (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(_dir.Combine(output), "config.json")))!;

    private static string GradientSlerp(string orca, string platy, int layers, string selection) => $"""
        {selection.Replace("#", layers.ToString())}
        merge_method: slerp
        base_model: {orca}
        parameters:
          t:
            - filter: self_attn
              value: [0, 0.5, 0.3, 0.7, 1]
            - filter: mlp
              value: [1, 0.5, 0.7, 0.3, 0]
            - value: 0.5
        dtype: float32
        """;

    [Fact]
    public void GradientSlerpExampleOverSlicesEqualsItsModelsForm()
    {
        string orca = _dir.Combine("orca"), platy = _dir.Combine("platy");
        var a = ArchitectureModels.Write(orca, "llama", 5, 1);
        var b = ArchitectureModels.Write(platy, "llama", 5, 2);
        var sliced = Merge(GradientSlerp(orca, platy, 5, $"slices:\n  - sources:\n      - model: {orca}\n        layer_range: [0, #]\n      - model: {platy}\n        layer_range: [0, #]"), "sliced");
        var models = Merge(GradientSlerp(orca, platy, 5, $"models:\n  - model: {orca}\n  - model: {platy}"), "models");

        Assert.Equal(models.Keys.Order(), sliced.Keys.Order());
        foreach (var (name, values) in models) Assert.True(values.AsSpan().SequenceEqual(sliced[name]), $"tensor '{name}' differs between the slices and models forms");

        // Layer 2 of 5 sits at t = 0.5: self_attn takes the gradient's middle point 0.3, mlp 0.7, the rest 0.5.
        foreach (var (suffix, t) in new[] { ("self_attn.q_proj.weight", 0.3), ("mlp.up_proj.weight", 0.7), ("input_layernorm.weight", 0.5) })
        {
            string name = $"model.layers.2.{suffix}";
            var expected = SlerpReference(a[name], b[name], t);
            for (int i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(expected[i] - sliced[name][i]) <= 1e-6 + 1e-6 * Math.Abs(expected[i]), $"{name}[{i}]: expected {expected[i]}, got {sliced[name][i]}");
        }
        Assert.Equal(5, OutputConfig("sliced")["num_hidden_layers"]!.GetValue<int>());
    }

    /// <summary>SLERP in float64 from the definition (base a at t = 0).</summary>
    private static float[] SlerpReference(float[] a, float[] b, double t)
    {
        double na = Math.Sqrt(a.Sum(x => (double)x * x)), nb = Math.Sqrt(b.Sum(x => (double)x * x));
        double dot = a.Zip(b, (x, y) => (double)x * y).Sum() / (na * nb);
        if (Math.Abs(dot) > 0.9995) return a.Zip(b, (x, y) => (float)(x + t * (y - x))).ToArray();
        double theta = Math.Acos(dot), s = Math.Sin(theta);
        return a.Zip(b, (x, y) => (float)(Math.Sin((1 - t) * theta) / s * x + Math.Sin(t * theta) / s * y)).ToArray();
    }

    [Fact]
    public void OrcaminiPlatyFrankenmergeStacksLayersInOrder()
    {
        // examples/orcamini-platy-44layer.yml scaled from two 40-layer models to two 10-layer ones: [0, 24) + [20, 40) -> [0, 6) + [5, 10).
        string orca = _dir.Combine("orca"), platy = _dir.Combine("platy");
        var a = ArchitectureModels.Write(orca, "llama", 10, 1, DType.F16);
        var b = ArchitectureModels.Write(platy, "llama", 10, 2, DType.F16);
        var merged = Merge($"""
            slices:
              - sources:
                - model: {orca}
                  layer_range: [0, 6]
              - sources:
                - model: {platy}
                  layer_range: [5, 10]
            merge_method: passthrough
            dtype: float16
            """, "franken");

        Assert.Equal(2 + 11 * 9 + 1, merged.Count);
        for (int layer = 0; layer < 11; layer++)
        {
            var (source, sourceLayer) = layer < 6 ? (a, layer) : (b, layer - 1);
            foreach (var suffix in new[] { "self_attn.q_proj.weight", "mlp.down_proj.weight", "post_attention_layernorm.weight" })
                Assert.Equal(RoundToHalf(source[$"model.layers.{sourceLayer}.{suffix}"]), merged[$"model.layers.{layer}.{suffix}"]);
        }
        // mergekit takes the embeddings from the first slice's sources, the final norm and head from the last slice's.
        Assert.Equal(RoundToHalf(a["model.embed_tokens.weight"]), merged["model.embed_tokens.weight"]);
        Assert.Equal(RoundToHalf(b["model.norm.weight"]), merged["model.norm.weight"]);
        Assert.Equal(RoundToHalf(b["lm_head.weight"]), merged["lm_head.weight"]);
        var config = OutputConfig("franken");
        Assert.Equal(11, config["num_hidden_layers"]!.GetValue<int>());
        Assert.Equal("float16", config["torch_dtype"]!.GetValue<string>());
    }

    private static float[] RoundToHalf(float[] values) => values.Select(v => (float)(Half)v).ToArray();

    public static TheoryData<string> Architectures => new(ArchitectureModels.Names);

    [Theory]
    [MemberData(nameof(Architectures))]
    public void PassthroughFrankenmergeRenumbersLayersAndSetsTheLayerCount(string architecture)
    {
        string first = _dir.Combine("first"), second = _dir.Combine("second");
        var a = ArchitectureModels.Write(first, architecture, 3, 1);
        var b = ArchitectureModels.Write(second, architecture, 3, 2);
        var merged = Merge($$"""
            merge_method: passthrough
            slices:
              - sources: [{model: {{first}}, layer_range: [0, 2]}]
              - sources: [{model: {{second}}, layer_range: [1, 3]}]
            """, "out");

        string prefix = architecture switch { "gpt2" => "h", "llava" => "language_model.model.layers", _ => "model.layers" };
        int layerTensors = a.Keys.Count(k => k.StartsWith(prefix + ".0.", StringComparison.Ordinal));
        Assert.Equal(a.Count + layerTensors, merged.Count);
        foreach (var (name, values) in merged)
        {
            var parsed = Core.Model.ModelLayout.Parse(name);
            float[] expected;
            if (parsed is { } p && p.Prefix == prefix)
                expected = p.Index < 2 ? a[name] : b[$"{prefix}.{p.Index - 1}.{p.Suffix}"];
            else
                expected = Core.Model.ModelLayout.IsBeforeDecoder(name) ? a[name] : b[name];
            Assert.True(expected.AsSpan().SequenceEqual(values), $"{architecture}: tensor '{name}' is not its source's");
        }
        var config = OutputConfig("out");
        var count = architecture switch
        {
            "gpt2" => config["n_layer"],
            "llava" => config["text_config"]!["num_hidden_layers"],
            _ => config["num_hidden_layers"],
        };
        Assert.Equal(4, count!.GetValue<int>());
        if (architecture == "llava") Assert.Equal(2, config["vision_config"]!["num_hidden_layers"]!.GetValue<int>());
    }

    [Fact]
    public void GradientsRestartInEverySlice()
    {
        string x = _dir.Combine("x"), y = _dir.Combine("y");
        var a = ArchitectureModels.Write(x, "qwen2", 6, 1);
        var b = ArchitectureModels.Write(y, "qwen2", 6, 2);
        var merged = Merge($$"""
            merge_method: linear
            slices:
              - sources:
                  - {model: {{x}}, layer_range: [0, 3], parameters: {weight: [0, 1]} }
                  - {model: {{y}}, layer_range: [0, 3], parameters: {weight: [1, 0]} }
              - sources:
                  - {model: {{x}}, layer_range: [3, 6], parameters: {weight: [0, 1]} }
                  - {model: {{y}}, layer_range: [3, 6], parameters: {weight: [1, 0]} }
            """, "out");
        const string down = "mlp.down_proj.weight";
        // t runs 0, 0.5, 1 over each slice: y's layer at its start, x's at its end, the mean between.
        foreach (int layer in new[] { 0, 3 }) Assert.Equal(b[$"model.layers.{layer}.{down}"], merged[$"model.layers.{layer}.{down}"]);
        foreach (int layer in new[] { 2, 5 }) Assert.Equal(a[$"model.layers.{layer}.{down}"], merged[$"model.layers.{layer}.{down}"]);
        var mid = merged[$"model.layers.4.{down}"];
        for (int i = 0; i < mid.Length; i++) Assert.Equal(0.5f * a[$"model.layers.4.{down}"][i] + 0.5f * b[$"model.layers.4.{down}"][i], mid[i], 6);
    }

    [Fact]
    public void SourceParametersOverrideTheSlicesWhichOverrideTheMerges()
    {
        string x = _dir.Combine("x"), y = _dir.Combine("y");
        var a = ArchitectureModels.Write(x, "llama", 2, 1);
        var b = ArchitectureModels.Write(y, "llama", 2, 2);
        var merged = Merge($$"""
            merge_method: linear
            parameters: {weight: 0}
            slices:
              - sources:
                  - {model: {{x}}, layer_range: [0, 1], parameters: {weight: 1} }
                  - {model: {{y}}, layer_range: [0, 1]}
              - sources:
                  - {model: {{x}}, layer_range: [1, 2]}
                  - {model: {{y}}, layer_range: [1, 2], parameters: {weight: 3} }
                parameters: {weight: 1}
            """, "out");
        const string q = "self_attn.q_proj.weight";
        Assert.Equal(a[$"model.layers.0.{q}"], merged[$"model.layers.0.{q}"]);
        var expected = a[$"model.layers.1.{q}"].Zip(b[$"model.layers.1.{q}"], (u, v) => (u + 3 * v) / 4).ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], merged[$"model.layers.1.{q}"][i], 5);
        // The head comes after the decoder: merged over the last slice, with its parameters.
        var head = a["lm_head.weight"].Zip(b["lm_head.weight"], (u, v) => (u + 3 * v) / 4).ToArray();
        for (int i = 0; i < head.Length; i++) Assert.Equal(head[i], merged["lm_head.weight"][i], 5);
    }

    [Fact]
    public void SlicesReadingAnEarlierStageEqualSeparateRuns()
    {
        string x = _dir.Combine("x"), y = _dir.Combine("y");
        ArchitectureModels.Write(x, "qwen2", 3, 1);
        ArchitectureModels.Write(y, "qwen2", 3, 2);
        string mean = $"merge_method: linear\nmodels:\n  - {{model: {x}, parameters: {{weight: 1}}}}\n  - {{model: {y}, parameters: {{weight: 1}}}}\n";
        string Stack(string source) => $"merge_method: passthrough\nslices:\n  - sources: [{{model: {source}, layer_range: [0, 2]}}]\n  - sources: [{{model: {source}, layer_range: [1, 3]}}]\n";
        var planned = Merge("name: mean\n" + mean + "---\n" + Stack("mean"), "planned");
        Merge(mean, "mean");
        var separate = Merge(Stack(_dir.Combine("mean")), "separate");
        Assert.Equal(separate.Keys.Order(), planned.Keys.Order());
        foreach (var (name, values) in separate) Assert.True(values.AsSpan().SequenceEqual(planned[name]), name);
        Assert.Equal(4, OutputConfig("planned")["num_hidden_layers"]!.GetValue<int>());
    }

    [Fact]
    public void IlgpuKernelsGiveTheCpuResultInsideSlices()
    {
        string orca = _dir.Combine("orca"), platy = _dir.Combine("platy");
        ArchitectureModels.Write(orca, "llama", 3, 1);
        ArchitectureModels.Write(platy, "llama", 3, 2);
        string yaml = GradientSlerp(orca, platy, 3, $"slices:\n  - sources:\n      - model: {orca}\n        layer_range: [0, #]\n      - model: {platy}\n        layer_range: [0, #]");
        var cpu = Merge(yaml, "cpu");
        using var ilgpu = KernelBackends.Create("ilgpu-cpu", 2);
        var gpu = Merge(yaml, "ilgpu", ilgpu);
        foreach (var (name, values) in cpu) Assert.True(values.AsSpan().SequenceEqual(gpu[name]), name);
    }

    [Fact]
    public void LayerRangePastTheModelIsAnErrorNamingItsLayerCount()
    {
        string x = _dir.Combine("x");
        ArchitectureModels.Write(x, "mistral", 3, 1);
        var e = Assert.Throws<MergeConfigException>(() => Merge($"merge_method: passthrough\nslices:\n  - sources: [{{model: {x}, layer_range: [1, 4]}}]\n", "out"));
        Assert.Contains("[1, 4)", e.Message);
        Assert.Contains("its 3 layers", e.Message);
        Assert.Contains("MistralForCausalLM", e.Message);
    }

    [Fact]
    public void UnrecognisedLayerLayoutIsAnErrorNamingTheArchitecture()
    {
        string x = _dir.Combine("x");
        TestModels.Write(x, DType.F32, [("encoder.stem.weight", [4], [1, 2, 3, 4]), ("head.weight", [4], [1, 2, 3, 4])],
            new JsonObject { ["architectures"] = new JsonArray("FooForCausalLM"), ["model_type"] = "foo" });
        var e = Assert.Throws<ModelDirectoryException>(() => Merge($"merge_method: passthrough\nslices:\n  - sources: [{{model: {x}, layer_range: [0, 1]}}]\n", "out"));
        Assert.Contains("FooForCausalLM", e.Message);
        Assert.Contains("no numbered layer tensors", e.Message);
    }

    [Fact]
    public void ConfigLayerCountDisagreeingWithTheTensorsIsAnError()
    {
        string x = _dir.Combine("x");
        ArchitectureModels.Write(x, "granite", 3, 1);
        var configPath = Path.Combine(x, "config.json");
        File.WriteAllText(configPath, File.ReadAllText(configPath).Replace("\"num_hidden_layers\":3", "\"num_hidden_layers\":5"));
        var e = Assert.Throws<ModelDirectoryException>(() => Merge($"merge_method: passthrough\nslices:\n  - sources: [{{model: {x}, layer_range: [0, 1]}}]\n", "out"));
        Assert.Contains("num_hidden_layers = 5", e.Message);
        Assert.Contains("GraniteForCausalLM", e.Message);
    }

    [Theory]
    [InlineData("slices:\n  - sources:\n      - {model: a, layer_range: [0, 2]}\n      - {model: b, layer_range: [0, 3]}\n", "same number of layers")]
    [InlineData("slices:\n  - sources: [{model: a, layer_range: [2, 2]}]\n", "is empty")]
    [InlineData("slices:\n  - sources: [{model: a, layer_range: [0, -1]}]\n", "non-negative integers")]
    [InlineData("slices:\n  - sources: [{model: a}]\n", "layer_range: [start, end]")]
    [InlineData("slices:\n  - sources: [{model: a, layer_range: [0, 1]}]\nmodels: [a]\n", "either 'models' or 'slices'")]
    [InlineData("slices: []\n", "non-empty list")]
    [InlineData("slices:\n  - sources: [{model: a, layer_range: [0, 1]}]\n    weights: 1\n", "unknown key 'weights'")]
    public void MalformedSlicesAreConfigErrors(string slices, string expected)
    {
        var e = Assert.Throws<MergeConfigException>(() => MergeConfigReader.Parse("bad.yml", "merge_method: passthrough\n" + slices));
        Assert.Contains("bad.yml", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void MethodRulesHoldInEverySlice()
    {
        var e = Assert.Throws<MergeConfigException>(() => MergeConfigReader.Parse("bad.yml", """
            merge_method: slerp
            base_model: a
            parameters: {t: 0.5}
            slices:
              - sources: [{model: a, layer_range: [0, 1]}, {model: b, layer_range: [0, 1]}]
              - sources: [{model: b, layer_range: [1, 2]}, {model: c, layer_range: [1, 2]}]
            """));
        Assert.Contains("slice 2", e.Message);
        Assert.Contains("needs base model 'a'", e.Message);

        e = Assert.Throws<MergeConfigException>(() => MergeConfigReader.Parse("bad.yml", """
            merge_method: passthrough
            slices:
              - sources: [{model: a, layer_range: [0, 1]}, {model: b, layer_range: [0, 1]}]
            """));
        Assert.Contains("passthrough takes exactly one model", e.Message);
        Assert.Contains("slice 1", e.Message);
    }
}
