using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Testing;

namespace Engine.Merge.Tests;

/// <summary>Small generated checkpoints in the tensor layouts and config keys of the architectures mergekit's
/// tests merge: names as transformers saves them, random values from a seed, a few layers of width 4.</summary>
public static class ArchitectureModels
{
    public const int Width = 4;
    public const int Vocab = 6;

    /// <summary>Every architecture <see cref="Write"/> knows.</summary>
    public static readonly string[] Names = ["qwen2", "llama", "mistral", "gemma", "phi3", "gpt2", "granite", "llava"];

    /// <summary>Writes a model of <paramref name="architecture"/> with <paramref name="layers"/> layers to
    /// <paramref name="path"/>; returns its tensors by name.</summary>
    public static Dictionary<string, float[]> Write(string path, string architecture, int layers, int seed, DType dtype = DType.F32, int vocab = Vocab)
    {
        var random = new Random(seed);
        var tensors = new List<(string Name, long[] Shape, float[] Values)>();
        void Add(string name, params long[] shape) =>
            tensors.Add((name, shape, TestModels.RandomValues(random, (int)shape.Aggregate(1L, (a, b) => a * b))));

        var (config, prefix, head) = Describe(architecture, layers, dtype, vocab);
        if (architecture == "gpt2")
        {
            Add("wte.weight", vocab, Width);
            Add("wpe.weight", 8, Width);
            for (int l = 0; l < layers; l++)
            {
                foreach (var n in new[] { "attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight" }) Add($"h.{l}.{n}", Width, Width);
                foreach (var n in new[] { "attn.c_attn.bias", "ln_1.weight", "ln_1.bias", "ln_2.weight", "ln_2.bias" }) Add($"h.{l}.{n}", Width);
            }
            Add("ln_f.weight", Width);
            Add("ln_f.bias", Width);
            TestModels.Write(path, dtype, tensors, config);
            return tensors.ToDictionary(t => t.Name, t => t.Values);
        }
        if (architecture == "llava")
        {
            Add("vision_tower.vision_model.embeddings.patch_embedding.weight", Width, Width);
            for (int l = 0; l < 2; l++) Add($"vision_tower.vision_model.encoder.layers.{l}.mlp.fc1.weight", Width, Width);
            Add("multi_modal_projector.linear_1.weight", Width, Width);
        }
        Add($"{prefix}embed_tokens.weight", vocab, Width);
        for (int l = 0; l < layers; l++)
        {
            string p = $"{prefix}layers.{l}.";
            Add(p + "input_layernorm.weight", Width);
            Add(p + "post_attention_layernorm.weight", Width);
            if (architecture == "phi3")
            {
                Add(p + "self_attn.qkv_proj.weight", 3 * Width, Width);
                Add(p + "mlp.gate_up_proj.weight", 2 * Width, Width);
            }
            else
            {
                foreach (var n in new[] { "q_proj", "k_proj", "v_proj" })
                {
                    Add($"{p}self_attn.{n}.weight", Width, Width);
                    if (architecture is "qwen2" or "granite") Add($"{p}self_attn.{n}.bias", Width);
                }
                Add(p + "mlp.gate_proj.weight", Width, Width);
                Add(p + "mlp.up_proj.weight", Width, Width);
            }
            Add(p + "self_attn.o_proj.weight", Width, Width);
            Add(p + "mlp.down_proj.weight", Width, Width);
        }
        Add($"{prefix}norm.weight", Width);
        if (head != null) Add(head, vocab, Width);
        TestModels.Write(path, dtype, tensors, config);
        return tensors.ToDictionary(t => t.Name, t => t.Values);
    }

    /// <summary>The config, the decoder's tensor prefix and the head's name (null: tied to the embedding).</summary>
    private static (JsonObject Config, string Prefix, string? Head) Describe(string architecture, int layers, DType dtype, int vocab)
    {
        JsonObject Text(string arch, string type, bool tied) => new()
        {
            ["architectures"] = new JsonArray(arch), ["model_type"] = type, ["hidden_size"] = Width, ["num_hidden_layers"] = layers,
            ["vocab_size"] = vocab, ["tie_word_embeddings"] = tied, ["torch_dtype"] = dtype.TorchName(),
        };
        return architecture switch
        {
            "qwen2" => (Text("Qwen2ForCausalLM", "qwen2", true), "model.", null),
            "llama" => (Text("LlamaForCausalLM", "llama", false), "model.", "lm_head.weight"),
            "mistral" => (Text("MistralForCausalLM", "mistral", false), "model.", "lm_head.weight"),
            "gemma" => (Text("GemmaForCausalLM", "gemma", true), "model.", null),
            "phi3" => (Text("Phi3ForCausalLM", "phi3", false), "model.", "lm_head.weight"),
            "granite" => (Text("GraniteForCausalLM", "granite", true), "model.", null),
            "gpt2" => (new JsonObject
            {
                ["architectures"] = new JsonArray("GPT2LMHeadModel"), ["model_type"] = "gpt2", ["n_embd"] = Width, ["n_layer"] = layers,
                ["n_positions"] = 8, ["vocab_size"] = vocab, ["torch_dtype"] = dtype.TorchName(),
            }, "", null),
            "llava" => (new JsonObject
            {
                ["architectures"] = new JsonArray("LlavaForConditionalGeneration"), ["model_type"] = "llava", ["torch_dtype"] = dtype.TorchName(),
                ["text_config"] = Text("LlamaForCausalLM", "llama", false),
                ["vision_config"] = new JsonObject { ["model_type"] = "clip_vision_model", ["num_hidden_layers"] = 2 },
            }, "language_model.model.", "language_model.lm_head.weight"),
            _ => throw new ArgumentException($"unknown test architecture '{architecture}'"),
        };
    }
}
