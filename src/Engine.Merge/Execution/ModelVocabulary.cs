using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Text;

namespace Engine.Merge.Execution;

/// <summary>A model's vocabulary as its <c>tokenizer.json</c> defines it (<c>model.vocab</c> and <c>added_tokens</c>),
/// cut to the ids its embedding has rows for (mergekit drops tokens at or past the config's <c>vocab_size</c>).</summary>
public sealed class ModelVocabulary
{
    private ModelVocabulary(string label, string path, JsonObject document, Dictionary<string, int> ids, int rows)
    {
        Label = label;
        Path = path;
        Document = document;
        Ids = ids;
        Rows = rows;
    }

    /// <summary>The model's name in the config, for messages and the report.</summary>
    public string Label { get; }

    /// <summary>The <c>tokenizer.json</c> read.</summary>
    public string Path { get; }

    /// <summary>The whole <c>tokenizer.json</c>, for writing an output built from it.</summary>
    public JsonObject Document { get; }

    /// <summary>Token text to id, every id below <see cref="Rows"/>.</summary>
    public IReadOnlyDictionary<string, int> Ids { get; }

    /// <summary>Rows of the model's embedding: the config's <c>vocab_size</c>, else the tokenizer's size.</summary>
    public int Rows { get; }

    /// <summary>The <c>added_tokens</c> entries (objects with <c>id</c>, <c>content</c>, <c>special</c>, ...), in id order.</summary>
    public IEnumerable<JsonObject> AddedTokens =>
        (Document["added_tokens"] as JsonArray ?? []).OfType<JsonObject>().Where(t => Id(t) < Rows).OrderBy(Id);

    /// <summary>Whether <paramref name="model"/> has a <c>tokenizer.json</c>.</summary>
    public static bool Exists(ModelDirectory model) => File.Exists(System.IO.Path.Combine(model.Path, "tokenizer.json"));

    /// <summary>Reads <paramref name="model"/>'s <c>tokenizer.json</c>; a missing or malformed file is a
    /// <see cref="ModelDirectoryException"/> naming it.</summary>
    public static ModelVocabulary Read(string label, ModelDirectory model)
    {
        string path = System.IO.Path.Combine(model.Path, "tokenizer.json");
        if (!File.Exists(path)) throw new ModelDirectoryException($"model '{label}': merging vocabularies needs its tokenizer.json ({path} is missing)");
        JsonObject document;
        try
        {
            document = JsonNode.Parse(StrictUtf8.ReadBytes(path)) as JsonObject ?? throw new ModelDirectoryException($"{path}: not a JSON object");
        }
        catch (JsonException e)
        {
            throw new ModelDirectoryException($"{path}: invalid JSON: {e.Message.Split('\n')[0]}", e);
        }
        var all = new Dictionary<string, int>(StringComparer.Ordinal);
        if (document["model"]?["vocab"] is JsonObject vocab)
        {
            foreach (var (token, id) in vocab)
                all[token] = id is JsonValue v && v.TryGetValue(out int i) && i >= 0 ? i : throw new ModelDirectoryException($"{path}: vocab entry '{token}' has no valid id");
        }
        else if (document["model"]?["vocab"] is JsonArray pieces)
        {
            // Unigram models list [piece, score] pairs; the id is the position.
            for (int i = 0; i < pieces.Count; i++)
                all[pieces[i] is JsonArray { Count: > 0 } p && p[0] is JsonValue pv && pv.TryGetValue(out string? s) ? s : throw new ModelDirectoryException($"{path}: vocab entry {i} is not [piece, score]")] = i;
        }
        else throw new ModelDirectoryException($"{path}: no model.vocab");
        foreach (var t in (document["added_tokens"] as JsonArray ?? []).OfType<JsonObject>())
        {
            if (t["content"] is not JsonValue c || !c.TryGetValue(out string? content) || Id(t) < 0)
                throw new ModelDirectoryException($"{path}: an added_tokens entry has no content or id");
            all[content] = Id(t);
        }
        int rows = model.Config?.VocabSize ?? (all.Count == 0 ? 0 : all.Values.Max() + 1);
        var ids = all.Where(kv => kv.Value < rows).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);
        return new ModelVocabulary(label, path, document, ids, rows);
    }

    private static int Id(JsonObject token) => token["id"] is JsonValue v && v.TryGetValue(out int id) ? id : -1;
}
