using System.Text.Json;
using Engine.Core.Text;

namespace Engine.Training.Tokenization;

/// <summary>What we use of a Hugging Face <c>tokenizer.json</c> with a byte-level BPE model (GPT-2, Qwen2 and
/// their kind), read and checked by <see cref="Read"/>. Supported, and otherwise a <see cref="TokenizerException"/>:
/// <list type="bullet">
/// <item><c>model</c>: <c>type</c> "BPE", <c>vocab</c>, <c>merges</c> as "a b" strings or [a, b] pairs; no dropout,
/// byte fallback, subword prefix/suffix or <c>ignore_merges</c>.</item>
/// <item><c>pre_tokenizer</c>: Qwen2's <c>Sequence[Split(Regex, Isolated), ByteLevel(use_regex=false)]</c>, or
/// GPT-2's <c>ByteLevel(use_regex=true)</c>; never <c>add_prefix_space</c>.</item>
/// <item><c>normalizer</c>: none or NFC.</item>
/// <item><c>added_tokens</c>: matched whole wherever they occur; their <c>lstrip</c>/<c>rstrip</c>/<c>single_word</c>
/// flags are ignored (Qwen2 sets none of them).</item>
/// </list>
/// <c>decoder</c> and <c>post_processor</c> are not read: training adds no BOS/EOS of its own.</summary>
internal sealed record TokenizerJson(
    IReadOnlyDictionary<string, int> Vocabulary,
    IReadOnlyList<string> Merges,
    IReadOnlyDictionary<string, int> AddedTokens,
    string SplitPattern,
    bool Nfc)
{
    /// <summary>GPT-2's split pattern, which <c>ByteLevel(use_regex=true)</c> applies.</summary>
    internal const string Gpt2SplitPattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    public static TokenizerJson Read(string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(StrictUtf8.ReadBytes(path));
        }
        catch (JsonException e)
        {
            throw new TokenizerException($"{path}: invalid JSON: {e.Message.Split('\n')[0]}", e);
        }
        using (doc)
        {
            try
            {
                var root = doc.RootElement;
                var model = Get(root, "model", JsonValueKind.Object);
                if (model.TryGetProperty("type", out var type) && type.GetString() != "BPE")
                    throw new FormatException($"model type '{type}' is not supported (byte-level BPE only)");
                RequireUnset(model, "dropout");
                RequireUnset(model, "byte_fallback");
                RequireUnset(model, "ignore_merges");
                RequireUnset(model, "continuing_subword_prefix");
                RequireUnset(model, "end_of_word_suffix");
                var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
                foreach (var entry in Get(model, "vocab", JsonValueKind.Object).EnumerateObject())
                    vocabulary[entry.Name] = entry.Value.TryGetInt32(out int id) && id >= 0 ? id : throw new FormatException($"vocab entry '{entry.Name}' has no valid id");
                var merges = Get(model, "merges", JsonValueKind.Array).EnumerateArray().Select(ReadMerge).ToList();
                var added = new Dictionary<string, int>(StringComparer.Ordinal);
                if (root.TryGetProperty("added_tokens", out var addedTokens) && addedTokens.ValueKind == JsonValueKind.Array)
                {
                    foreach (var t in addedTokens.EnumerateArray())
                        added[Get(t, "content", JsonValueKind.String).GetString()!] = Get(t, "id", JsonValueKind.Number).GetInt32();
                }
                return new TokenizerJson(vocabulary, merges, added, ReadSplitPattern(root), ReadNfc(root));
            }
            catch (Exception e) when (e is FormatException or InvalidOperationException)
            {
                throw new TokenizerException($"{path}: {e.Message}", e);
            }
        }
    }

    private static string ReadMerge(JsonElement merge)
    {
        // Both spellings join to "a b" for the library; a byte-level token never holds a space (it is 'Ġ').
        string[] parts = merge.ValueKind switch
        {
            JsonValueKind.String => merge.GetString()!.Split(' '),
            JsonValueKind.Array => merge.EnumerateArray().Select(p => p.GetString() ?? "").ToArray(),
            _ => [],
        };
        if (parts.Length != 2 || parts.Any(p => p.Length == 0 || p.Contains(' ')))
            throw new FormatException($"merge {merge.GetRawText()} is not a pair of byte-level tokens");
        return parts[0] + " " + parts[1];
    }

    private static string ReadSplitPattern(JsonElement root)
    {
        var pre = Get(root, "pre_tokenizer", JsonValueKind.Object);
        string type = Get(pre, "type", JsonValueKind.String).GetString()!;
        if (type == "ByteLevel" && IsByteLevel(pre, useRegex: true)) return Gpt2SplitPattern;
        if (type == "Sequence" && pre.TryGetProperty("pretokenizers", out var steps) && steps.ValueKind == JsonValueKind.Array
            && steps.GetArrayLength() == 2 && IsByteLevel(steps[1], useRegex: false)
            && steps[0].TryGetProperty("type", out var t) && t.GetString() == "Split"
            && steps[0].TryGetProperty("behavior", out var b) && b.GetString() == "Isolated"
            && !(steps[0].TryGetProperty("invert", out var inv) && inv.ValueKind == JsonValueKind.True)
            && steps[0].TryGetProperty("pattern", out var p) && p.TryGetProperty("Regex", out var regex) && regex.ValueKind == JsonValueKind.String)
            return regex.GetString()!;
        throw new FormatException($"pre_tokenizer {Abbreviate(pre.GetRawText())} is not supported: expected Sequence[Split(Regex, Isolated), ByteLevel] (Qwen2) or ByteLevel with use_regex (GPT-2), without add_prefix_space");
    }

    private static bool IsByteLevel(JsonElement e, bool useRegex) =>
        e.TryGetProperty("type", out var t) && t.GetString() == "ByteLevel"
        && !(e.TryGetProperty("add_prefix_space", out var a) && a.ValueKind == JsonValueKind.True)
        && (e.TryGetProperty("use_regex", out var r) ? r.ValueKind == JsonValueKind.True : true) == useRegex;

    private static bool ReadNfc(JsonElement root)
    {
        if (!root.TryGetProperty("normalizer", out var n) || n.ValueKind == JsonValueKind.Null) return false;
        string? type = n.TryGetProperty("type", out var t) ? t.GetString() : null;
        if (type == "NFC") return true;
        if (type == "Sequence" && n.TryGetProperty("normalizers", out var list) && list.ValueKind == JsonValueKind.Array && list.GetArrayLength() == 0) return false;
        throw new FormatException($"normalizer {Abbreviate(n.GetRawText())} is not supported (none or NFC)");
    }

    private static JsonElement Get(JsonElement e, string name, JsonValueKind kind) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == kind ? v : throw new FormatException($"'{name}' is missing or not a JSON {kind.ToString().ToLowerInvariant()}");

    /// <summary>A feature is off when the key is absent, null, false or an empty string.</summary>
    private static void RequireUnset(JsonElement model, string name)
    {
        if (!model.TryGetProperty(name, out var v)) return;
        bool off = v.ValueKind is JsonValueKind.Null or JsonValueKind.False || (v.ValueKind == JsonValueKind.String && v.GetString() == "");
        if (!off) throw new FormatException($"model.{name} = {v.GetRawText()} is not supported");
    }

    private static string Abbreviate(string json) => json.Length <= 200 ? json : json[..200] + "...";
}
