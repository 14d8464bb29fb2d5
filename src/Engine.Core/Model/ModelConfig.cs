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

    public string Path { get; }

    /// <summary>The full document.</summary>
    public JsonObject Root { get; }

    public string? Architecture =>
        Root["architectures"] is JsonArray { Count: > 0 } a && a[0] is JsonValue v && v.TryGetValue(out string? s) ? s : null;
    public string? ModelType => GetString("model_type");
    public int? HiddenSize => GetInt("hidden_size");
    public int? IntermediateSize => GetInt("intermediate_size");
    public int? NumHiddenLayers => GetInt("num_hidden_layers");
    public int? NumAttentionHeads => GetInt("num_attention_heads");
    public int? NumKeyValueHeads => GetInt("num_key_value_heads") ?? NumAttentionHeads;
    public int? VocabSize => GetInt("vocab_size");
    public int? MaxPositionEmbeddings => GetInt("max_position_embeddings");
    public double? RmsNormEps => GetDouble("rms_norm_eps");
    public double? RopeTheta => GetDouble("rope_theta");

    /// <summary><c>tie_word_embeddings</c>; transformers' default is true when the key is absent.</summary>
    public bool TieWordEmbeddings => Root["tie_word_embeddings"] is JsonValue v && v.TryGetValue(out bool b) ? b : true;

    /// <summary><c>torch_dtype</c> (or the newer <c>dtype</c>) when it names a known type.</summary>
    public DType? TorchDType =>
        DTypes.TryParseConfigName(GetString("torch_dtype") ?? GetString("dtype"), out var d) ? d : null;

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
