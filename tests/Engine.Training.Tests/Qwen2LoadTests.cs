using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Numerics;
using Engine.Testing;

namespace Engine.Training.Tests;

/// <summary>Loading HF model directories (config.json + safetensors in F32 or BF16) into the native trainer.</summary>
public sealed class Qwen2LoadTests
{
    private static JsonObject HfConfig(Qwen2Fixture f, DType dtype) => new()
    {
        ["architectures"] = new JsonArray("Qwen2ForCausalLM"),
        ["model_type"] = "qwen2",
        ["vocab_size"] = f.Config.VocabSize,
        ["hidden_size"] = f.Config.HiddenSize,
        ["intermediate_size"] = f.Config.IntermediateSize,
        ["num_hidden_layers"] = f.Config.NumLayers,
        ["num_attention_heads"] = f.Config.NumHeads,
        ["num_key_value_heads"] = f.Config.NumKeyValueHeads,
        ["rms_norm_eps"] = f.Config.RmsNormEps,
        ["rope_theta"] = f.Config.RopeTheta,
        ["tie_word_embeddings"] = f.Config.TieWordEmbeddings,
        ["torch_dtype"] = dtype.TorchName(),
    };

    private static IEnumerable<(string Name, long[] Shape, float[] Values)> FixtureTensors(Qwen2Fixture f, Qwen2Model layout) =>
        layout.Parameters.Select(p => (p.Name, p.Shape.ToArray(), f.GetSingle("param/" + p.Name)));

    [Theory]
    [InlineData("untied_gqa", DType.F32)]
    [InlineData("tied_mqa", DType.F32)]
    [InlineData("untied_gqa", DType.BF16)]
    [InlineData("tied_mqa", DType.BF16)]
    public void LoadsWeightsFromSafetensors(string caseName, DType dtype)
    {
        var f = Qwen2Fixture.Load(caseName);
        using var temp = new TempDirectory();
        using var context = ComputeContext.CreateCpu(threads: 2);
        using var reference = f.CreateModel(context, ComputeDType.Float32);
        string dir = temp.Combine("model");
        TestModels.Write(dir, dtype, FixtureTensors(f, reference), HfConfig(f, dtype));

        using var directory = ModelDirectory.Open(dir);
        using var loaded = Qwen2Model.Load(context, directory);

        Assert.Equal(f.Config, loaded.Config);
        foreach (var p in loaded.Parameters)
        {
            var expected = f.GetSingle("param/" + p.Name);
            if (dtype == DType.BF16)
                expected = expected.Select(x => DTypeConversion.BFloat16ToSingle(DTypeConversion.SingleToBFloat16(x))).ToArray();
            var actual = loaded.ReadParameters(p.Name);
            for (int i = 0; i < expected.Length; i++)
                Assert.True(expected[i] == actual[i], $"{caseName}/{dtype}/{p.Name}[{i}]: expected {expected[i]:R}, actual {actual[i]:R}");
        }
        if (dtype == DType.F32)
            Tolerance.Float32.AssertClose($"{caseName}/loaded loss", f.Get("loss")[0], loaded.Forward(f.Batch).Mean);
    }

    [Fact]
    public void MissingTensorIsAnErrorNamingIt()
    {
        var f = Qwen2Fixture.Load("untied_gqa");
        using var temp = new TempDirectory();
        using var context = ComputeContext.CreateCpu(threads: 1);
        using var reference = f.CreateModel(context, ComputeDType.Float32);
        string dir = temp.Combine("model");
        TestModels.Write(dir, DType.F32, FixtureTensors(f, reference).Where(t => t.Name != "lm_head.weight"), HfConfig(f, DType.F32));
        using var directory = ModelDirectory.Open(dir);

        var e = Assert.Throws<ModelDirectoryException>(() => Qwen2Model.Load(context, directory));
        Assert.Contains("lm_head.weight", e.Message);
    }

    [Fact]
    public void WrongShapeIsAnErrorNamingTensorAndShapes()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var temp = new TempDirectory();
        using var context = ComputeContext.CreateCpu(threads: 1);
        using var reference = f.CreateModel(context, ComputeDType.Float32);
        string dir = temp.Combine("model");
        var config = HfConfig(f, DType.F32);
        config["intermediate_size"] = f.Config.IntermediateSize + 2;
        TestModels.Write(dir, DType.F32, FixtureTensors(f, reference), config);
        using var directory = ModelDirectory.Open(dir);

        var e = Assert.Throws<ModelDirectoryException>(() => Qwen2Model.Load(context, directory));
        Assert.Contains("model.layers.0.mlp.gate_proj.weight", e.Message);
        Assert.Contains($"[{f.Config.IntermediateSize}, {f.Config.HiddenSize}]", e.Message);
    }
}
