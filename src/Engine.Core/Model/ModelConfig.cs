using System.Text.Json;
using System.Text.Json.Nodes;

namespace Engine.Core.Model;

/// <summary>A typed view of a Hugging Face <c>config.json</c>: the fields the engine uses, with the whole
/// document kept so it can be written back with changes (for example the dtype).</summary>
public sealed class ModelConfig
{
    private ModelConfig(string path, JsonObject root)
    {
        Path = path;
        Root = root;
    }

    /// <summary>The <c>config.json</c> read.</summary>
    public string Path { get; }

    /// <summary>The full document.</summary>
    public JsonObject Root { get; }

    /// <summary><c>architectures[0]</c> (such as <c>Qwen2ForCausalLM</c>), or null.</summary>
    public string? Architecture =>
        Root["architectures"] is JsonArray { Count: > 0 } a && a[0] is JsonValue v && v.TryGetValue(out string? s) ? s : null;
    /// <summary><c>model_type</c> (such as <c>qwen2</c>), or null.</summary>
    public string? ModelType => GetString("model_type");
    /// <summary><c>hidden_size</c>, or null.</summary>
    public int? HiddenSize => GetInt("hidden_size");
    /// <summary><c>intermediate_size</c>, or null.</summary>
    public int? IntermediateSize => GetInt("intermediate_size");
    /// <summary><c>num_hidden_layers</c>, or null.</summary>
    public int? NumHiddenLayers => GetInt("num_hidden_layers");
    /// <summary><c>num_attention_heads</c>, or null.</summary>
    public int? NumAttentionHeads => GetInt("num_attention_heads");
    /// <summary><c>num_key_value_heads</c>; transformers' default is <see cref="NumAttentionHeads"/> (no grouping).</summary>
    public int? NumKeyValueHeads => GetInt("num_key_value_heads") ?? NumAttentionHeads;
    /// <summary><c>vocab_size</c>: rows of the embedding, or null.</summary>
    public int? VocabSize => GetInt("vocab_size");
    /// <summary><c>max_position_embeddings</c>, or null.</summary>
    public int? MaxPositionEmbeddings => GetInt("max_position_embeddings");
    /// <summary><c>rms_norm_eps</c>, or null.</summary>
    public double? RmsNormEps => GetDouble("rms_norm_eps");
    /// <summary><c>rope_theta</c>, or null.</summary>
    public double? RopeTheta => GetDouble("rope_theta");

    /// <summary><c>tie_word_embeddings</c>; transformers' default is true when the key is absent.</summary>
    public bool TieWordEmbeddings => Root["tie_word_embeddings"] is JsonValue v && v.TryGetValue(out bool b) ? b : true;

    /// <summary><c>torch_dtype</c> (or the newer <c>dtype</c>) when it names a known type.</summary>
    public DType? TorchDType =>
        DTypes.TryParseConfigName(GetString("torch_dtype") ?? GetString("dtype"), out var d) ? d : null;

    /// <summary>Reads the <c>config.json</c> at <paramref name="path"/> (strict UTF-8; trailing commas allowed, duplicate keys not).</summary>
    /// <exception cref="ModelDirectoryException">The file is not valid JSON or not a JSON object.</exception>
    /// <exception cref="Text.InvalidTextException">The file is not valid UTF-8.</exception>
    public static ModelConfig Load(string path)
    {
        try
        {
            var node = JsonNode.Parse(Text.StrictUtf8.ReadBytes(path), documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, AllowDuplicateProperties = false });
            if (node is not JsonObject obj) throw new ModelDirectoryException($"{path}: config.json is not a JSON object");
            var config = new ModelConfig(path, obj);
            config.Validate();
            return config;
        }
        catch (JsonException e)
        {
            throw new ModelDirectoryException($"{path}: invalid JSON: {e.Message.Split('\n')[0]}", e);
        }
    }

    private void Validate()
    {
        foreach (var key in new[] { "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size" })
        {
            if (Root[key] is null) continue;
            if (GetInt(key) is not int v || v <= 0) throw new ModelDirectoryException($"{Path}: '{key}' must be a positive integer, found {Root[key]!.ToJsonString()}");
        }
    }

    /// <summary>A copy of the document with <c>torch_dtype</c> set to <paramref name="dtype"/>.</summary>
    public JsonObject WithDType(DType dtype)
    {
        var copy = (JsonObject)Root.DeepClone();
        copy["torch_dtype"] = dtype.TorchName();
        if (copy.ContainsKey("dtype")) copy["dtype"] = dtype.TorchName();
        return copy;
    }

    private string? GetString(string key) => Root[key] is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    private int? GetInt(string key) => Root[key] is JsonValue v && v.TryGetValue(out int i) ? i
        : Root[key] is JsonValue d && d.TryGetValue(out double x) && x == Math.Floor(x) && x is > int.MinValue and < int.MaxValue ? (int)x : null;

    private double? GetDouble(string key) => Root[key] is JsonValue v && v.TryGetValue(out double d) ? d : null;
}
