using System.Text.Json.Nodes;
using Engine.Testing;
using Engine.Training.Tokenization;

namespace Engine.Training.Tests;

/// <summary>Our tokenizer.json loader on Microsoft.ML.Tokenizers against ids from Hugging Face tokenizers.</summary>
public sealed class HuggingFaceTokenizerTests
{
    [Fact]
    public void IdsMatchHuggingFaceTokenizersOnEveryFixtureCase()
    {
        TokenizerParity.AssertIdsMatch(HuggingFaceTokenizer.Load(TokenizerFixture.TokenizerJson), TokenizerFixture.Cases());
    }

    [Fact]
    public void DecodeGivesBackTheNormalizedText()
    {
        var tokenizer = HuggingFaceTokenizer.Load(TokenizerFixture.TokenizerJson);
        foreach (var (text, _) in TokenizerFixture.Cases())
            Assert.Equal(UnicodeNfc.Normalize(text), tokenizer.Decode(tokenizer.Encode(text)));
    }

    [Fact]
    public void AddedTokensAreWholeTokensWithTheirIds()
    {
        var tokenizer = HuggingFaceTokenizer.Load(TokenizerFixture.TokenizerJson);
        int start = tokenizer.FindAddedToken("<|im_start|>")!.Value, end = tokenizer.FindAddedToken("<|im_end|>")!.Value;

        Assert.Equal(tokenizer.IdLimit - 2, start);
        Assert.Equal(tokenizer.IdLimit - 1, end);
        Assert.Equal([start, end, start], tokenizer.Encode("<|im_start|><|im_end|><|im_start|>"));
        Assert.Null(tokenizer.FindAddedToken("<|im_sep|>"));
    }

    [Fact]
    public void MergesApplyByRank()
    {
        // "ab" and "bc" compete for "abc". With "a b" ranked first, "ab" + "c" has no merge: [ab, c]. With "b c"
        // first, "a" + "bc" merges on to "abc".
        using var temp = new TempDirectory();
        var vocab = new JsonObject { ["a"] = 0, ["b"] = 1, ["c"] = 2, ["ab"] = 3, ["bc"] = 4, ["abc"] = 5 };
        string abFirst = temp.Combine("ab.json"), bcFirst = temp.Combine("bc.json");
        File.WriteAllText(abFirst, MinimalTokenizerJson(vocab, new JsonArray("a b", "b c", "a bc")));
        File.WriteAllText(bcFirst, MinimalTokenizerJson((JsonObject)vocab.DeepClone(), new JsonArray("b c", "a b", "a bc")));

        Assert.Equal([3, 2], HuggingFaceTokenizer.Load(abFirst).Encode("abc"));
        Assert.Equal([5], HuggingFaceTokenizer.Load(bcFirst).Encode("abc"));
    }

    [Theory]
    [InlineData("\"normalizer\": {\"type\": \"NFKC\"}", "normalizer")]
    [InlineData("\"pre_tokenizer\": {\"type\": \"Whitespace\"}", "pre_tokenizer")]
    [InlineData("\"model\": {\"type\": \"Unigram\", \"vocab\": {}, \"merges\": []}", "model type")]
    [InlineData("\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": [], \"byte_fallback\": true}", "byte_fallback")]
    public void UnsupportedFeaturesAreErrorsNamingTheFile(string replacement, string expected)
    {
        using var temp = new TempDirectory();
        string path = temp.Combine("tokenizer.json");
        var json = JsonNode.Parse(MinimalTokenizerJson(new JsonObject { ["a"] = 0 }, new JsonArray()))!.AsObject();
        var patch = JsonNode.Parse("{" + replacement + "}")!.AsObject();
        foreach (var (key, value) in patch.ToList())
        {
            patch.Remove(key);
            json[key] = value;
        }
        File.WriteAllText(path, json.ToJsonString());

        var e = Assert.Throws<TokenizerException>(() => HuggingFaceTokenizer.Load(path));
        Assert.StartsWith(path + ":", e.Message);
        Assert.Contains(expected, e.Message);
    }

    /// <summary>A Qwen2-shaped tokenizer.json with the given model vocabulary and merges and no added tokens.</summary>
    internal static string MinimalTokenizerJson(JsonObject vocab, JsonArray merges) => new JsonObject
    {
        ["added_tokens"] = new JsonArray(),
        ["normalizer"] = null,
        ["pre_tokenizer"] = JsonNode.Parse("""
            {"type": "Sequence", "pretokenizers": [
              {"type": "Split", "pattern": {"Regex": "\\p{L}+|\\s+"}, "behavior": "Isolated", "invert": false},
              {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]}
            """),
        ["model"] = new JsonObject { ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["vocab"] = vocab, ["merges"] = merges },
    }.ToJsonString();
}
