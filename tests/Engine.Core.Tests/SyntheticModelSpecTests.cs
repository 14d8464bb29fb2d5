using Engine.Core.Model;

namespace Engine.Core.Tests;

/// <summary>The benchmark model shapes, checked without writing a byte.</summary>
public sealed class SyntheticModelSpecTests
{
    [Fact]
    public void Qwen32BHasQwen25_32BShapesAndParameterCount()
    {
        var spec = SyntheticModelSpec.Qwen32B;
        Assert.Equal(128, spec.HeadDim);
        var tensors = spec.Tensors();
        // Embedding, 12 tensors per layer, final norm, untied lm_head.
        Assert.Equal(1 + 12 * 64 + 2, tensors.Count);
        // Qwen2.5-32B's published count: 32,763,876,352 parameters.
        Assert.Equal(32_763_876_352L, spec.Parameters);
        Assert.Equal(2 * spec.Parameters, spec.ByteLength);
        Assert.All(tensors, t => Assert.Equal(DType.BF16, t.DType));

        var shapes = tensors.ToDictionary(t => t.Name, t => t.Shape.ToArray());
        Assert.Equal([152064L, 5120], shapes["model.embed_tokens.weight"]);
        Assert.Equal([152064L, 5120], shapes["lm_head.weight"]);
        Assert.Equal([5120L], shapes["model.norm.weight"]);
        string p = "model.layers.63.";
        Assert.Equal([5120L], shapes[p + "input_layernorm.weight"]);
        Assert.Equal([5120L], shapes[p + "post_attention_layernorm.weight"]);
        Assert.Equal([5120L, 5120], shapes[p + "self_attn.q_proj.weight"]);
        Assert.Equal([5120L], shapes[p + "self_attn.q_proj.bias"]);
        Assert.Equal([1024L, 5120], shapes[p + "self_attn.k_proj.weight"]); // 8 KV heads x 128
        Assert.Equal([1024L], shapes[p + "self_attn.k_proj.bias"]);
        Assert.Equal([1024L, 5120], shapes[p + "self_attn.v_proj.weight"]);
        Assert.Equal([1024L], shapes[p + "self_attn.v_proj.bias"]);
        Assert.Equal([5120L, 5120], shapes[p + "self_attn.o_proj.weight"]);
        Assert.False(shapes.ContainsKey(p + "self_attn.o_proj.bias"));
        Assert.Equal([27648L, 5120], shapes[p + "mlp.gate_proj.weight"]);
        Assert.Equal([27648L, 5120], shapes[p + "mlp.up_proj.weight"]);
        Assert.Equal([5120L, 27648], shapes[p + "mlp.down_proj.weight"]);
        Assert.False(shapes.ContainsKey("model.layers.64.input_layernorm.weight"));

        var config = spec.ConfigJson();
        Assert.Equal(64, config["num_hidden_layers"]!.GetValue<int>());
        Assert.Equal(8, config["num_key_value_heads"]!.GetValue<int>());
        Assert.False(config["tie_word_embeddings"]!.GetValue<bool>());
    }

    [Fact]
    public void FewerLayersKeepEveryTensorShape()
    {
        var full = SyntheticModelSpec.Qwen32B;
        var four = full with { Layers = 4 };
        Assert.Equal(1 + 12 * 4 + 2, four.Tensors().Count);
        // About 3.5B parameters (7 GB in bf16): the embedding and lm_head stay whole.
        Assert.Equal(3_507_561_472L, four.Parameters);
        var shapes = full.Tensors().ToDictionary(t => t.Name, t => t.Shape.ToArray());
        Assert.All(four.Tensors(), t => Assert.Equal(shapes[t.Name], t.Shape.ToArray()));
    }
}
