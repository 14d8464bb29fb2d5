using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Kernels.Cpu;
using Engine.Merge.Config;
using Engine.Merge.Execution;
using Engine.Testing;
using Engine.Training.Tokenization;

namespace Engine.Merge.Tests;

/// <summary>Vocabulary merging as mergekit does it (tokenizer_source base | union | model, tokens overrides,
/// pad_to_multiple_of, chat_template) on small generated models whose byte-level BPE tokenizers differ;
/// the output's tokenizer.json is loaded back with the engine's own Hugging Face tokenizer loader.</summary>
public sealed class TokenizerMergeTests : IDisposable
{
    private const int Width = 2;
    private readonly TempDirectory _dir = new();
    private readonly Dictionary<string, float[]> _a, _b, _c;

    public TokenizerMergeTests()
    {
        _a = WriteModel("a", ["a", "b", "c", "ab"], ["a b"], [("<|end|>", true)], 1);
        _b = WriteModel("b", ["a", "c", "b", "d", "cd"], ["c d"], [("<|end|>", true), ("<|tool|>", true)], 2);
        _c = WriteModel("c", ["a", "e", "d"], [], [], 3);
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>A one-layer model whose embedding and head have a row per token, with a GPT-2-style tokenizer.json
    /// and a tokenizer_config.json carrying a chat template named after the model.</summary>
    private Dictionary<string, float[]> WriteModel(string name, string[] vocab, string[] merges, (string Content, bool Special)[] added, int seed, int? embeddingRows = null)
    {
        int rows = embeddingRows ?? vocab.Length + added.Length;
        var random = new Random(seed);
        var tensors = new List<(string, long[], float[])>
        {
            ("model.embed_tokens.weight", [rows, Width], TestModels.RandomValues(random, rows * Width)),
            ("model.layers.0.mlp.up_proj.weight", [Width, Width], TestModels.RandomValues(random, Width * Width)),
            ("lm_head.weight", [rows, Width], TestModels.RandomValues(random, rows * Width)),
        };
        string path = _dir.Combine(name);
        TestModels.Write(path, DType.F32, tensors, new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"), ["model_type"] = "llama", ["num_hidden_layers"] = 1,
            ["vocab_size"] = rows, ["tie_word_embeddings"] = false, ["torch_dtype"] = "float32",
        });
        var tokenizer = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(added.Select((t, i) => (JsonNode)new JsonObject
            {
                ["id"] = vocab.Length + i, ["content"] = t.Content, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false,
                ["normalized"] = false, ["special"] = t.Special,
            }).ToArray()),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["fuse_unk"] = false, ["byte_fallback"] = false,
                ["vocab"] = new JsonObject(vocab.Select((t, i) => KeyValuePair.Create(t, (JsonNode?)i))),
                ["merges"] = new JsonArray(merges.Select(m => (JsonNode)m).ToArray()),
            },
        };
        File.WriteAllText(Path.Combine(path, "tokenizer.json"), tokenizer.ToJsonString());
        File.WriteAllText(Path.Combine(path, "tokenizer_config.json"), new JsonObject { ["chat_template"] = name == "c" ? "{{ 'c template' }}" : "{{ 'ab template' }}" }.ToJsonString());
        return tensors.ToDictionary(t => t.Item1, t => t.Item3);
    }

    private Dictionary<string, float[]> Merge(string yaml, string output = "out")
    {
        string config = _dir.Combine(output + ".yml");
        File.WriteAllText(config, yaml);
        using var kernels = new CpuMergeKernels(1);
        new MergeExecutor(kernels).Run(MergeConfigReader.Load(config), new MergeRunOptions(_dir.Combine(output)));
        return TestModels.Read(_dir.Combine(output));
    }

    private string Linear(string tokenizer, params string[] models) =>
        $"merge_method: linear\nbase_model: {_dir.Combine("a")}\nmodels:\n"
        + string.Concat(models.Select(m => $"  - model: {_dir.Combine(m)}\n    parameters: {{weight: 1}}\n")) + tokenizer;

    private static float[] Row(float[] tensor, int row) => tensor.AsSpan(row * Width, Width).ToArray();

    private static float[] Mean(params float[][] rows) => Enumerable.Range(0, Width).Select(j => rows.Sum(r => r[j]) / rows.Length).ToArray();

    private static void Near(float[] expected, float[] actual, string what)
    {
        for (int j = 0; j < expected.Length; j++)
            Assert.True(Math.Abs(expected[j] - actual[j]) <= 1e-6, $"{what}[{j}]: expected {expected[j]}, got {actual[j]}");
    }

    [Fact]
    public void UnionAppendsEveryModelsTokensAndTakesRowsByMergekitsRules()
    {
        var merged = Merge(Linear($"tokenizer_source: union\n", "a", "b", "c"));
        // Output vocabulary: a's [a b c ab <|end|>], then b's d cd, c's e (added tokens), then b's <|tool|>.
        var e = merged["model.embed_tokens.weight"];
        Assert.Equal(9 * Width, e.Length);
        var ea = _a["model.embed_tokens.weight"];
        var eb = _b["model.embed_tokens.weight"];
        var ec = _c["model.embed_tokens.weight"];
        Near(Mean(Row(ea, 0), Row(eb, 0), Row(ec, 0)), Row(e, 0), "'a' (in all three)");
        // 'b' is in a and b only: c takes the base's row, so the mean counts a's row twice.
        Near(Mean(Row(ea, 1), Row(eb, 2), Row(ea, 1)), Row(e, 1), "'b' (base's row for c)");
        Near(Row(ea, 3), Row(e, 3), "'ab' (only in a)");
        // 'd' is in b and c, not in the base: a takes their mean.
        var meanD = Mean(Row(eb, 3), Row(ec, 2));
        Near(Mean(meanD, Row(eb, 3), Row(ec, 2)), Row(e, 5), "'d' (mean of b and c for a)");
        Near(Row(eb, 4), Row(e, 6), "'cd' (only in b)");
        Near(Row(ec, 1), Row(e, 7), "'e' (only in c)");
        Near(Row(eb, 6), Row(e, 8), "'<|tool|>' (only in b)");

        var tokenizer = HuggingFaceTokenizer.Load(Path.Combine(_dir.Combine("out"), "tokenizer.json"));
        Assert.Equal(8, tokenizer.FindAddedToken("<|tool|>"));
        Assert.Equal([3, 6], tokenizer.Encode("abcd"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir.Combine("out"), "config.json")))!;
        Assert.Equal(9, config["vocab_size"]!.GetValue<int>());
        var decoder = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir.Combine("out"), "tokenizer_config.json")))!["added_tokens_decoder"]!;
        Assert.True(decoder["8"]!["special"]!.GetValue<bool>());
        Assert.Equal("d", decoder["5"]!["content"]!.GetValue<string>());
    }

    [Fact]
    public void UnionLeavesOutTokensPastAModelsEmbedding()
    {
        // mergekit's model_padded: the tokenizer lists added tokens the embedding (config vocab_size) has no rows for.
        WriteModel("padded", ["a", "b", "c", "ab"], ["a b"], [("<UNUSED_0>", false), ("<UNUSED_1>", false)], 5, embeddingRows: 4);
        var merged = Merge(Linear("tokenizer_source: union\n", "a", "padded"));
        Assert.Equal(5 * Width, merged["model.embed_tokens.weight"].Length);
        var tokenizer = HuggingFaceTokenizer.Load(Path.Combine(_dir.Combine("out"), "tokenizer.json"));
        Assert.Null(tokenizer.FindAddedToken("<UNUSED_0>"));
        Assert.Equal(4, tokenizer.FindAddedToken("<|end|>"));
    }

    [Fact]
    public void TokenOverridesPaddingAndForcedSources()
    {
        var merged = Merge(Linear($$"""
            tokenizer:
              source: base
              pad_to_multiple_of: 4
              tokens:
                "<|end|>": {source: {{_dir.Combine("b")}}, force: true}
                "b": {source: {kind: model_token, model: {{_dir.Combine("b")}}, token: "d"} , force: true}
                "<|new|>": {source: {kind: zero} }
            """, "a", "b"));
        var e = merged["model.embed_tokens.weight"];
        // Vocabulary: a's five tokens and <|new|>; six rows padded to eight.
        Assert.Equal(8 * Width, e.Length);
        var eb = _b["model.embed_tokens.weight"];
        Near(Row(eb, 5), Row(e, 4), "'<|end|>' forced from b");
        Near(Row(eb, 3), Row(e, 1), "'b' forced to b's 'd'");
        Near(new float[Width], Row(e, 5), "'<|new|>' zero");
        var mean = Mean(Enumerable.Range(0, 6).Select(r => Row(e, r)).ToArray());
        Near(mean, Row(e, 6), "padding row");
        Near(mean, Row(e, 7), "padding row");
        Assert.Equal(5, HuggingFaceTokenizer.Load(Path.Combine(_dir.Combine("out"), "tokenizer.json")).FindAddedToken("<|new|>"));
    }

    [Fact]
    public void ModelSourceReordersTheOtherModelsRows()
    {
        var merged = Merge(Linear($"tokenizer_source: {_dir.Combine("b")}\n", "a", "b"));
        var head = merged["lm_head.weight"];
        var ha = _a["lm_head.weight"];
        var hb = _b["lm_head.weight"];
        Assert.Equal(7 * Width, head.Length);
        Near(Mean(Row(ha, 2), Row(hb, 1)), Row(head, 1), "'c'");
        Near(Mean(Row(ha, 1), Row(hb, 2)), Row(head, 2), "'b'");
        Near(Row(hb, 3), Row(head, 3), "'d' (only in b)");
        Assert.Equal(6, HuggingFaceTokenizer.Load(Path.Combine(_dir.Combine("out"), "tokenizer.json")).FindAddedToken("<|tool|>"));
    }

    [Fact]
    public void BaseSourceWithSharedVocabularyLeavesTheMergeAsItWas()
    {
        WriteModel("a2", ["a", "b", "c", "ab"], ["a b"], [("<|end|>", true)], 7);
        var with = Merge(Linear("tokenizer_source: base\n", "a", "a2"), "with");
        var without = Merge(Linear("", "a", "a2"), "without");
        foreach (var (name, values) in without) Assert.True(values.AsSpan().SequenceEqual(with[name]), name);
        Assert.Equal(File.ReadAllBytes(Path.Combine(_dir.Combine("a"), "tokenizer.json")), File.ReadAllBytes(Path.Combine(_dir.Combine("with"), "tokenizer.json")));
    }

    [Theory]
    [InlineData("chatml", "<|im_start|>")]
    [InlineData("auto", "ab template")]
    [InlineData("{% for m in messages %}{{ m['content'] }}{% endfor %}", "for m in messages")]
    public void ChatTemplateIsWrittenToTheTokenizerConfig(string template, string expected)
    {
        Merge(Linear($"chat_template: \"{template}\"\n", "a", "b", "c"));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir.Combine("out"), "tokenizer_config.json")))!;
        Assert.Contains(expected, config["chat_template"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("tokenizer_source: base\ntokenizer: {source: union}\n", "either 'tokenizer_source' or 'tokenizer'")]
    [InlineData("tokenizer:\n  tokens:\n    x: {source: {kind: other}}\n", "kind 'other'")]
    [InlineData("tokenizer:\n  tokens:\n    x: {source: {kind: model_token, model: m, token: a, token_id: 1}}\n", "exactly one of 'token_id' and 'token'")]
    [InlineData("tokenizer:\n  pad_to_multiple_of: 0\n", "positive integer")]
    [InlineData("tokenizer:\n  tokens:\n    x: {force: true}\n", "force without a source")]
    public void MalformedTokenizerSettingsAreConfigErrors(string tokenizer, string expected)
    {
        var e = Assert.Throws<MergeConfigException>(() => MergeConfigReader.Parse("bad.yml", "merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: 1}\n" + tokenizer));
        Assert.Contains("bad.yml", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void UnknownChatTemplateNameAndForeignTokenSourceAreErrors()
    {
        var e = Assert.Throws<MergeConfigException>(() => Merge(Linear("chat_template: nosuch\n", "a", "b")));
        Assert.Contains("chat_template 'nosuch'", e.Message);
        e = Assert.Throws<MergeConfigException>(() => Merge(Linear("tokenizer:\n  tokens:\n    x: {source: elsewhere}\n", "a", "b"), "out2"));
        Assert.Contains("'elsewhere', which is not part of the merge", e.Message);
    }
}
