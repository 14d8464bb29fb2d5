using Engine.Core;
using Engine.Core.Model;
using Engine.Kernels.Cpu;
using Engine.Merge.Config;
using Engine.Merge.Execution;
using Engine.Testing;

namespace Engine.Merge.Tests;

/// <summary>The decoder stack and its layer-count key, found from the tensor names and config of each
/// architecture's generated checkpoint.</summary>
public sealed class ModelLayoutTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("qwen2", "model.layers", "num_hidden_layers", "Qwen2ForCausalLM")]
    [InlineData("llama", "model.layers", "num_hidden_layers", "LlamaForCausalLM")]
    [InlineData("mistral", "model.layers", "num_hidden_layers", "MistralForCausalLM")]
    [InlineData("gemma", "model.layers", "num_hidden_layers", "GemmaForCausalLM")]
    [InlineData("phi3", "model.layers", "num_hidden_layers", "Phi3ForCausalLM")]
    [InlineData("granite", "model.layers", "num_hidden_layers", "GraniteForCausalLM")]
    [InlineData("gpt2", "h", "n_layer", "GPT2LMHeadModel")]
    [InlineData("llava", "language_model.model.layers", "text_config.num_hidden_layers", "LlavaForConditionalGeneration")]
    public void FindsTheDecoderAndItsCountKey(string architecture, string prefix, string key, string name)
    {
        ArchitectureModels.Write(_dir.Combine(architecture), architecture, 3, 1);
        using var model = ModelDirectory.Open(_dir.Combine(architecture));
        var layout = ModelLayout.Detect(architecture, model);
        Assert.Equal(new LayerStack(prefix, 3), layout.RequireDecoder());
        Assert.Equal(key, string.Join('.', layout.CountKey));
        Assert.Equal(name, layout.Architecture);
        Assert.Equal(2, layout.DecoderLayer($"{prefix}.2.x.weight"));
        Assert.Equal(0.5, layout.LayerPosition($"{prefix}.1.x.weight"));
        Assert.Equal(0, layout.LayerPosition("lm_head.weight"));
    }

    public static TheoryData<string> Architectures => new(ArchitectureModels.Names);

    /// <summary>mergekit's test_granite_linear_merge and test_linear_VLM_merge, on every layout: weights 0.6 and
    /// 0.4, bfloat16, every tensor present in the output and equal to the weighted mean.</summary>
    [Theory]
    [MemberData(nameof(Architectures))]
    public void LinearMergeOfEveryLayoutKeepsEveryTensor(string architecture)
    {
        string a = _dir.Combine("a"), b = _dir.Combine("b");
        var x = ArchitectureModels.Write(a, architecture, 2, 1);
        var y = ArchitectureModels.Write(b, architecture, 2, 2);
        string config = _dir.Combine("c.yml");
        File.WriteAllText(config, $"merge_method: linear\ndtype: bfloat16\nmodels:\n  - model: {a}\n    parameters: {{weight: 0.6}}\n  - model: {b}\n    parameters: {{weight: 0.4}}\n");
        using var kernels = new CpuMergeKernels(1);
        new MergeExecutor(kernels).Run(MergeConfigReader.Load(config), new MergeRunOptions(_dir.Combine("out")));
        var merged = TestModels.Read(_dir.Combine("out"));
        Assert.Equal(x.Keys.Order(), merged.Keys.Order());
        foreach (var (name, values) in merged)
        {
            for (int i = 0; i < values.Length; i++)
            {
                double expected = 0.6 * x[name][i] + 0.4 * y[name][i];
                Assert.True(Math.Abs(expected - values[i]) <= 1e-2 * (1 + Math.Abs(expected)), $"{architecture} {name}[{i}]: {expected} vs {values[i]}");
            }
        }
    }

    [Fact]
    public void VisionTowerLayersArePlacedInTheirOwnStack()
    {
        ArchitectureModels.Write(_dir.Combine("llava"), "llava", 5, 1);
        using var model = ModelDirectory.Open(_dir.Combine("llava"));
        var layout = ModelLayout.Detect("llava", model);
        Assert.Equal(-1, layout.DecoderLayer("vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight"));
        Assert.Equal(1.0, layout.LayerPosition("vision_tower.vision_model.encoder.layers.1.mlp.fc1.weight"));
        Assert.Equal(0.25, layout.LayerPosition("language_model.model.layers.1.mlp.up_proj.weight"));
        Assert.True(ModelLayout.IsBeforeDecoder("multi_modal_projector.linear_1.weight"));
        Assert.False(ModelLayout.IsBeforeDecoder("language_model.lm_head.weight"));
    }

    [Fact]
    public void TwoStacksWithoutALanguageModelAreAnErrorNamingThem()
    {
        TestModels.Write(_dir.Combine("x"), DType.F32, [("encoder.layers.0.w", [1], [1]), ("decoder.layers.0.w", [1], [1])],
            new System.Text.Json.Nodes.JsonObject { ["architectures"] = new System.Text.Json.Nodes.JsonArray("T5ForConditionalGeneration") });
        using var model = ModelDirectory.Open(_dir.Combine("x"));
        var e = Assert.Throws<ModelDirectoryException>(() => ModelLayout.Detect("x", model).RequireDecoder());
        Assert.Contains("T5ForConditionalGeneration", e.Message);
        Assert.Contains("'decoder.layers.N' x1", e.Message);
        Assert.Contains("'encoder.layers.N' x1", e.Message);
    }

    [Fact]
    public void GradientsFollowGpt2LayersInAModelsMerge()
    {
        // GPT-2 names its layers h.N. (no ".layers."): a gradient still runs over them, 0 at h.0 and 1 at h.2.
        string a = _dir.Combine("a"), b = _dir.Combine("b");
        var x = ArchitectureModels.Write(a, "gpt2", 3, 1);
        var y = ArchitectureModels.Write(b, "gpt2", 3, 2);
        string config = _dir.Combine("c.yml");
        File.WriteAllText(config, $"merge_method: linear\nmodels:\n  - model: {a}\n    parameters: {{weight: [1, 0]}}\n  - model: {b}\n    parameters: {{weight: [0, 1]}}\n");
        using var kernels = new CpuMergeKernels(1);
        new MergeExecutor(kernels).Run(MergeConfigReader.Load(config), new MergeRunOptions(_dir.Combine("out")));
        var merged = TestModels.Read(_dir.Combine("out"));
        Assert.Equal(x["h.0.mlp.c_fc.weight"], merged["h.0.mlp.c_fc.weight"]);
        Assert.Equal(y["h.2.mlp.c_fc.weight"], merged["h.2.mlp.c_fc.weight"]);
    }
}
