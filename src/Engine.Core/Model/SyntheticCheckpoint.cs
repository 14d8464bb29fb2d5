using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core.Numerics;
using Engine.Core.Safetensors;

namespace Engine.Core.Model;

/// <summary>Shape of a generated Qwen2-family checkpoint.</summary>
public sealed record SyntheticModelSpec(int HiddenSize, int IntermediateSize, int Layers, int Heads, int KvHeads, int VocabSize, bool TiedEmbeddings, DType DType)
{
    /// <summary>A few-hundred-kilobyte model for demos and tests.</summary>
    public static SyntheticModelSpec Tiny { get; } = new(64, 128, 2, 4, 2, 512, true, DType.BF16);

    /// <summary>The shapes of Qwen2.5-0.5B (494M parameters), for benchmarks.</summary>
    public static SyntheticModelSpec Qwen05B { get; } = new(896, 4864, 24, 14, 2, 151936, true, DType.BF16);

    /// <summary>The shapes of Qwen2.5-32B (32.76B parameters, 64 layers, untied lm_head; 65.5 GB in bf16),
    /// for benchmarks; <c>with { Layers = 4 }</c> keeps every tensor shape at 3.5B parameters.</summary>
    public static SyntheticModelSpec Qwen32B { get; } = new(5120, 27648, 64, 40, 8, 152064, false, DType.BF16);

    /// <summary><c>HiddenSize / Heads</c>.</summary>
    public int HeadDim => HiddenSize / Heads;

    /// <summary>Elements of every tensor together (the parameter count).</summary>
    public long Parameters => Tensors().Sum(t => TensorInfo.ElementCountOf(t.Shape));

    /// <summary>Bytes of every tensor together (a checkpoint's size on disk, less its headers).</summary>
    public long ByteLength => Tensors().Sum(t => t.ByteLength);

    /// <summary>Every tensor, in the order transformers saves them.</summary>
    public IReadOnlyList<TensorSpec> Tensors()
    {
        var list = new List<TensorSpec> { T("model.embed_tokens.weight", VocabSize, HiddenSize) };
        int kv = KvHeads * HeadDim;
        for (int l = 0; l < Layers; l++)
        {
            string p = $"model.layers.{l}.";
            list.Add(T(p + "input_layernorm.weight", HiddenSize));
            list.Add(T(p + "self_attn.q_proj.weight", HiddenSize, HiddenSize));
            list.Add(T(p + "self_attn.q_proj.bias", HiddenSize));
            list.Add(T(p + "self_attn.k_proj.weight", kv, HiddenSize));
            list.Add(T(p + "self_attn.k_proj.bias", kv));
            list.Add(T(p + "self_attn.v_proj.weight", kv, HiddenSize));
            list.Add(T(p + "self_attn.v_proj.bias", kv));
            list.Add(T(p + "self_attn.o_proj.weight", HiddenSize, HiddenSize));
            list.Add(T(p + "post_attention_layernorm.weight", HiddenSize));
            list.Add(T(p + "mlp.gate_proj.weight", IntermediateSize, HiddenSize));
            list.Add(T(p + "mlp.up_proj.weight", IntermediateSize, HiddenSize));
            list.Add(T(p + "mlp.down_proj.weight", HiddenSize, IntermediateSize));
        }
        list.Add(T("model.norm.weight", HiddenSize));
        if (!TiedEmbeddings) list.Add(T("lm_head.weight", VocabSize, HiddenSize));
        return list;

        TensorSpec T(string name, params long[] shape) => new(name, DType, shape.ToImmutableArray());
    }

    /// <summary>A Qwen2 <c>config.json</c> of this shape.</summary>
    public JsonObject ConfigJson() => new()
    {
        ["architectures"] = new JsonArray("Qwen2ForCausalLM"),
        ["model_type"] = "qwen2",
        ["hidden_size"] = HiddenSize,
        ["intermediate_size"] = IntermediateSize,
        ["num_hidden_layers"] = Layers,
        ["num_attention_heads"] = Heads,
        ["num_key_value_heads"] = KvHeads,
        ["vocab_size"] = VocabSize,
        ["max_position_embeddings"] = 4096,
        ["rms_norm_eps"] = 1e-6,
        ["rope_theta"] = 1000000.0,
        ["hidden_act"] = "silu",
        ["tie_word_embeddings"] = TiedEmbeddings,
        ["torch_dtype"] = DType.TorchName(),
        ["bos_token_id"] = 0,
        ["eos_token_id"] = 1,
    };
}

/// <summary>Writes deterministic random checkpoints: a base model, and domain experts that are the base plus
/// a seeded delta (small everywhere, larger on a seeded subset of rows, as fine-tuning leaves them). Values
/// come from a counter-based generator, so they do not depend on chunking or threads.</summary>
public static class SyntheticCheckpoint
{
    /// <summary>Writes a model directory at <paramref name="path"/>. <paramref name="expertSeed"/> null gives
    /// the base; a value gives an expert of that base.</summary>
    public static void Write(string path, SyntheticModelSpec spec, ulong baseSeed, ulong? expertSeed, bool overwrite = false, long maxShardBytes = ShardWriterOptions.DefaultMaxShardBytes)
    {
        var tensors = spec.Tensors();
        using var writer = ShardWriter.Create(path, tensors, new ShardWriterOptions(maxShardBytes, overwrite));
        const int chunk = 1 << 20;
        foreach (var t in tensors)
        {
            long n = TensorInfo.ElementCountOf(t.Shape);
            long rowLength = t.Shape[^1];
            ulong tensorKey = Hash(t.Name);
            bool norm = t.Name.EndsWith("norm.weight", StringComparison.Ordinal);
            long chunks = (n + chunk - 1) / chunk;
            Parallel.For(0L, chunks, c =>
            {
                long start = c * chunk;
                int count = (int)Math.Min(chunk, n - start);
                var values = new float[count];
                for (int i = 0; i < count; i++)
                {
                    long e = start + i;
                    float v = norm ? 1f + 0.05f * Normal(baseSeed, tensorKey, e) : 0.02f * Normal(baseSeed, tensorKey, e);
                    if (expertSeed is { } s)
                    {
                        long row = e / rowLength;
                        float rowScale = (Mix(s ^ tensorKey ^ (ulong)row * 0x9E3779B97F4A7C15UL) & 7) == 0 ? 10f : 1f;
                        v += 0.002f * rowScale * Normal(s, tensorKey, e);
                    }
                    values[i] = v;
                }
                var bytes = new byte[count * t.DType.SizeOf()];
                DTypeConversion.FromSingle(values, t.DType, bytes);
                writer.WriteTensor(t.Name, bytes, start * t.DType.SizeOf());
            });
        }
        var json = new JsonSerializerOptions { WriteIndented = true };
        writer.WriteFile("config.json", Encoding.UTF8.GetBytes(spec.ConfigJson().ToJsonString(json)));
        writer.WriteFile("generation_config.json", Encoding.UTF8.GetBytes(new JsonObject { ["bos_token_id"] = 0, ["eos_token_id"] = 1 }.ToJsonString(json)));
        writer.WriteFile("tokenizer_config.json", Encoding.UTF8.GetBytes(new JsonObject
        {
            ["model_max_length"] = 4096,
            ["eos_token"] = "<|im_end|>",
            ["pad_token"] = "<|endoftext|>",
        }.ToJsonString(json)));
        writer.Commit();
    }

    /// <summary>A standard normal value for element <paramref name="index"/> of a tensor (Box-Muller on two
    /// counter-derived uniforms).</summary>
    private static float Normal(ulong seed, ulong tensor, long index)
    {
        ulong a = Mix(seed ^ Mix(tensor + (ulong)index * 2));
        ulong b = Mix(a ^ 0xD1B54A32D192ED03UL);
        double u1 = ((a >> 11) + 1) * (1.0 / 9007199254740993.0);
        double u2 = (b >> 11) * (1.0 / 9007199254740992.0);
        return (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }

    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong Hash(string s)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in s) h = (h ^ c) * 1099511628211UL;
        return h;
    }
}
