using Engine.Core;
using Engine.Core.Model;

namespace Engine.Training;

/// <summary>The shape of a Qwen2 decoder, as in its HF <c>config.json</c>. Validated at construction.
/// <see cref="HeadDim"/> is <c>hidden_size / num_attention_heads</c> unless the config names one.</summary>
public sealed record Qwen2Config
{
    /// <summary>A decoder shape; the names follow <c>config.json</c>'s keys.</summary>
    /// <exception cref="ArgumentException">A size is not positive, <c>num_key_value_heads</c> does not divide
    /// <c>num_attention_heads</c>, the head dimension is not a positive even number, or an epsilon or theta is not positive.</exception>
    public Qwen2Config(int vocabSize, int hiddenSize, int intermediateSize, int numLayers, int numHeads, int numKeyValueHeads,
        bool tieWordEmbeddings, double rmsNormEps, double ropeTheta, int? headDim = null)
    {
        Require(vocabSize > 0, $"vocab_size must be positive, got {vocabSize}");
        Require(hiddenSize > 0, $"hidden_size must be positive, got {hiddenSize}");
        Require(intermediateSize > 0, $"intermediate_size must be positive, got {intermediateSize}");
        Require(numLayers > 0, $"num_hidden_layers must be positive, got {numLayers}");
        Require(numHeads > 0, $"num_attention_heads must be positive, got {numHeads}");
        Require(numKeyValueHeads > 0 && numHeads % numKeyValueHeads == 0,
            $"num_key_value_heads ({numKeyValueHeads}) must divide num_attention_heads ({numHeads})");
        int d = headDim ?? (hiddenSize % numHeads == 0 ? hiddenSize / numHeads : 0);
        Require(d > 0 && d % 2 == 0, $"head_dim must be a positive even number, got {d} (hidden_size {hiddenSize}, {numHeads} heads)");
        Require(rmsNormEps > 0 && double.IsFinite(rmsNormEps), $"rms_norm_eps must be positive, got {rmsNormEps}");
        Require(ropeTheta > 0 && double.IsFinite(ropeTheta), $"rope_theta must be positive, got {ropeTheta}");
        (VocabSize, HiddenSize, IntermediateSize, NumLayers, NumHeads, NumKeyValueHeads, HeadDim) =
            (vocabSize, hiddenSize, intermediateSize, numLayers, numHeads, numKeyValueHeads, d);
        (TieWordEmbeddings, RmsNormEps, RopeTheta) = (tieWordEmbeddings, rmsNormEps, ropeTheta);
    }

    /// <summary><c>vocab_size</c>: rows of the embedding and of lm_head.</summary>
    public int VocabSize { get; }
    /// <summary><c>hidden_size</c>: the residual stream width C.</summary>
    public int HiddenSize { get; }
    /// <summary><c>intermediate_size</c>: the SwiGLU MLP's inner width.</summary>
    public int IntermediateSize { get; }
    /// <summary><c>num_hidden_layers</c>: decoder layers.</summary>
    public int NumLayers { get; }
    /// <summary><c>num_attention_heads</c>: query heads.</summary>
    public int NumHeads { get; }
    /// <summary><c>num_key_value_heads</c>: key/value heads (grouped-query attention; divides <see cref="NumHeads"/>).</summary>
    public int NumKeyValueHeads { get; }
    /// <summary>Per-head dimension, even (RoPE rotates pairs): <c>head_dim</c>, else <c>hidden_size / num_attention_heads</c>.</summary>
    public int HeadDim { get; }
    /// <summary><c>tie_word_embeddings</c>: lm_head reuses the embedding matrix.</summary>
    public bool TieWordEmbeddings { get; }
    /// <summary><c>rms_norm_eps</c>: <c>y = x / sqrt(mean(x^2) + eps) * w</c>.</summary>
    public double RmsNormEps { get; }
    /// <summary><c>rope_theta</c>: the RoPE base, frequencies <c>theta^(-2i/head_dim)</c>.</summary>
    public double RopeTheta { get; }

    /// <summary>Elements of the flat parameter buffer (the native trainer's layout: every HF tensor once, lm_head
    /// only when untied).</summary>
    public long ParameterCount
    {
        get
        {
            long c = HiddenSize, q = (long)NumHeads * HeadDim, kv = (long)NumKeyValueHeads * HeadDim, i = IntermediateSize, v = VocabSize;
            long layer = 2 * c + (q * c + q) + 2 * (kv * c + kv) + c * q + 3 * i * c;
            return v * c + NumLayers * layer + c + (TieWordEmbeddings ? 0 : v * c);
        }
    }

    /// <summary>Reads the Qwen2 fields of a <c>config.json</c>; <c>rms_norm_eps</c> defaults to 1e-6 and
    /// <c>rope_theta</c> to 10000 as in transformers' Qwen2Config.</summary>
    public static Qwen2Config FromModelConfig(ModelConfig config)
    {
        int Need(int? v, string key) => v ?? throw new ModelDirectoryException($"{config.Path}: '{key}' is missing");
        if (config.ModelType is string type && type != "qwen2" && type != "llama")
            throw new ModelDirectoryException($"{config.Path}: model_type '{type}' is not supported (qwen2 or llama)");
        int? headDim = config.Root["head_dim"] is System.Text.Json.Nodes.JsonValue v && v.TryGetValue(out int h) ? h : null;
        try
        {
            return new Qwen2Config(Need(config.VocabSize, "vocab_size"), Need(config.HiddenSize, "hidden_size"),
                Need(config.IntermediateSize, "intermediate_size"), Need(config.NumHiddenLayers, "num_hidden_layers"),
                Need(config.NumAttentionHeads, "num_attention_heads"), Need(config.NumKeyValueHeads, "num_key_value_heads"),
                config.TieWordEmbeddings, config.RmsNormEps ?? 1e-6, config.RopeTheta ?? 10000.0, headDim);
        }
        catch (ArgumentException e)
        {
            throw new ModelDirectoryException($"{config.Path}: {e.Message}", e);
        }
    }

    private static void Require(bool ok, string message)
    {
        if (!ok) throw new ArgumentException(message);
    }
}
