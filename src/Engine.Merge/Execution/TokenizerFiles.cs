using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core.Model;
using Engine.Core.Text;
using Engine.Merge.Config;

namespace Engine.Merge.Execution;

/// <summary>The tokenizer files an output writes instead of copying them: <c>tokenizer.json</c> and
/// <c>tokenizer_config.json</c> when the vocabulary merge added tokens or moved rows, and <c>tokenizer_config.json</c>'s
/// <c>chat_template</c> when the config selects one (mergekit's <c>chat_template</c>: a built-in name, <c>auto</c>
/// for the template most of the inputs use, or a Jinja template written out).</summary>
internal static class TokenizerFiles
{
    /// <summary>ChatML, the one template built in: written from its published format (im_start / im_end turns,
    /// an assistant turn opened when asked for).</summary>
    private const string ChatMl =
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
        + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    /// <summary>Files to write (by name) in place of the copied ones; files of the source not to copy.</summary>
    public static (Dictionary<string, byte[]> Write, HashSet<string> Skip) Build(string configPath, MergeStage stage, ModelDirectory tokenizerModel)
    {
        var write = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var skip = new HashSet<string>(StringComparer.Ordinal);
        var vocabulary = stage.Vocabulary;
        bool changed = vocabulary is not null && (vocabulary.Reorders || vocabulary.AddedTokens.Length > 0);
        string? template = stage.Document.ChatTemplate is { } chosen ? Resolve(configPath, chosen, stage) : null;
        if (!changed && template is null) return (write, skip);

        if (changed) write["tokenizer.json"] = Json(vocabulary!.TokenizerJson);
        string configFile = Path.Combine((vocabulary?.Source.Path is { } p ? Path.GetDirectoryName(p) : null) ?? tokenizerModel.Path, "tokenizer_config.json");
        var tokenizerConfig = File.Exists(configFile) ? JsonNode.Parse(StrictUtf8.ReadBytes(configFile)) as JsonObject ?? new JsonObject() : new JsonObject();
        if (changed && vocabulary!.AddedTokens.Length > 0)
        {
            var decoder = tokenizerConfig["added_tokens_decoder"] as JsonObject ?? new JsonObject();
            foreach (var token in vocabulary.AddedTokens)
            {
                var entry = (JsonObject)token.DeepClone();
                string id = entry["id"]!.ToJsonString();
                entry.Remove("id");
                decoder[id] = entry;
            }
            tokenizerConfig["added_tokens_decoder"] = decoder;
        }
        if (template is not null)
        {
            tokenizerConfig["chat_template"] = template;
            // transformers prefers these files over tokenizer_config.json's template.
            skip.Add("chat_template.jinja");
            skip.Add("chat_template.json");
        }
        write["tokenizer_config.json"] = Json(tokenizerConfig);
        return (write, skip);
    }

    private static string Resolve(string configPath, string chosen, MergeStage stage)
    {
        if (chosen == "chatml") return ChatMl;
        if (chosen == "auto")
        {
            var templates = stage.Inputs.Select(i => i switch
            {
                InputRef.Model m => m.Directory,
                InputRef.Stage s => s.Node.Primary,
                _ => throw new InvalidOperationException(),
            }).Distinct().Select(TemplateOf).OfType<string>().ToList();
            return templates.GroupBy(t => t).OrderByDescending(g => g.Count()).Select(g => g.Key).FirstOrDefault()
                ?? throw new MergeConfigException($"{configPath}: chat_template 'auto': none of the models has a chat template");
        }
        if (chosen.Length < 20 || !chosen.Contains('{'))
            throw new MergeConfigException($"{configPath}: chat_template '{chosen}' is neither a built-in name (chatml, auto) nor a Jinja template");
        return chosen;
    }

    /// <summary>A model's chat template (stripped, as mergekit compares them): <c>chat_template.jinja</c>, else
    /// <c>tokenizer_config.json</c>'s <c>chat_template</c> (a string, or the <c>default</c> of a named list).</summary>
    private static string? TemplateOf(ModelDirectory model)
    {
        string jinja = Path.Combine(model.Path, "chat_template.jinja");
        if (File.Exists(jinja)) return StrictUtf8.ReadFile(jinja).Trim();
        string config = Path.Combine(model.Path, "tokenizer_config.json");
        if (!File.Exists(config) || JsonNode.Parse(StrictUtf8.ReadBytes(config)) is not JsonObject c) return null;
        return c["chat_template"] switch
        {
            JsonValue v when v.TryGetValue(out string? s) => s.Trim(),
            JsonArray named => named.OfType<JsonObject>().FirstOrDefault(t => t["name"]?.GetValue<string>() == "default")?["template"]?.GetValue<string>().Trim(),
            _ => null,
        };
    }

    private static byte[] Json(JsonObject document) =>
        Encoding.UTF8.GetBytes(document.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
}
