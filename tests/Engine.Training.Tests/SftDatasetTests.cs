using System.Text.Json.Nodes;
using Engine.Testing;
using Engine.Training.Data;
using Engine.Training.Tokenization;

namespace Engine.Training.Tests;

/// <summary>Loading a JSONL file for a model: format per row, tokenizer from the model directory, bad rows.</summary>
public sealed class SftDatasetTests
{
    private static string Model(TempDirectory temp, int vocabSize, bool withTokenizer = false)
    {
        string dir = temp.Combine("model");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), new JsonObject { ["model_type"] = "qwen2", ["vocab_size"] = vocabSize }.ToJsonString());
        if (withTokenizer) File.Copy(TokenizerFixture.TokenizerJson, Path.Combine(dir, ModelTokenizer.FileName));
        return dir;
    }

    /// <summary>Writes <paramref name="lines"/> to data.jsonl under <paramref name="temp"/>.</summary>
    internal static string Data(TempDirectory temp, params IEnumerable<string> lines)
    {
        string path = temp.Combine("data.jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void MixedFormatsInOneFileKeepTheirLines()
    {
        using var temp = new TempDirectory();
        string data = Data(temp,
            """{"instruction": "x", "output": "y"}""",
            "",
            """{"input_ids": [1, 2, 3], "labels": [-100, 2, 3]}""",
            """{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}""");

        var loaded = SftDataset.Load(data, Model(temp, 300), new DatasetOptions());

        Assert.Equal([1, 3, 4], loaded.Examples.Select(e => e.Line));
        Assert.Equal(loaded.Examples[0].InputIds, loaded.Examples[2].InputIds);
        Assert.Equal([-100, 2, 3], loaded.Examples[1].Labels);
        Assert.Equal(0, loaded.SkippedRows);
        Assert.StartsWith("byte-level", loaded.Tokenizer!.Description);
    }

    [Fact]
    public void TextRowsUseTheModelsTokenizerJson()
    {
        using var temp = new TempDirectory();
        string data = Data(temp, """{"conversations": [{"from": "human", "value": "Hello world"}, {"from": "gpt", "value": "Hi"}]}""");

        var loaded = SftDataset.Load(data, Model(temp, 600, withTokenizer: true), new DatasetOptions(SystemPrompt: ""));

        var tokenizer = HuggingFaceTokenizer.Load(TokenizerFixture.TokenizerJson);
        Assert.Equal(tokenizer.Encode("<|im_start|>user\nHello world<|im_end|>\n<|im_start|>assistant\nHi<|im_end|>\n"), loaded.Examples[0].InputIds);
        Assert.Contains("tokenizer.json (byte-level BPE", loaded.Tokenizer!.Description);
    }

    [Fact]
    public void PreTokenizedRowsNeedNoTokenizer()
    {
        using var temp = new TempDirectory();
        string data = Data(temp, """{"input_ids": [1, 2]}""");

        // vocab_size 10 is too small for the byte fallback, but no text row asks for a tokenizer.
        var loaded = SftDataset.Load(data, Model(temp, 10), new DatasetOptions());

        Assert.Null(loaded.Tokenizer);
        Assert.Equal([1, 2], loaded.Examples[0].Labels);
    }

    [Theory]
    [InlineData("not json", "invalid JSON")]
    [InlineData("""{"instruction": ["x"], "output": "y"}""", "'instruction' must be a string, found an array")]
    [InlineData("""{"messages": [{"role": "bot", "content": "x"}]}""", "role 'bot' is not supported")]
    [InlineData("""{"conversations": []}""", "the conversation has no turns")]
    [InlineData("""{"input_ids": [1, 300]}""", "'input_ids'[1] = 300 is outside the vocabulary (vocab_size 300)")]
    public void BadRowIsAnErrorNamingFileAndLine(string badRow, string expected)
    {
        using var temp = new TempDirectory();
        string data = Data(temp, """{"instruction": "x", "output": "y"}""", badRow);

        var e = Assert.Throws<DatasetFormatException>(() => SftDataset.Load(data, Model(temp, 300), new DatasetOptions()));

        Assert.Equal(2, e.Line);
        Assert.StartsWith($"{data}:2: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void SkipBadRowsCountsThem()
    {
        using var temp = new TempDirectory();
        string data = Data(temp, "{", """{"instruction": "x", "output": "y"}""", """{"messages": []}""", """{"input_ids": [1]}""");

        var loaded = SftDataset.Load(data, Model(temp, 300), new DatasetOptions(SkipBadRows: true));

        Assert.Equal(2, loaded.SkippedRows);
        Assert.Equal([2, 4], loaded.Examples.Select(e => e.Line));
    }

    [Fact]
    public void AllRowsBadIsAnError()
    {
        using var temp = new TempDirectory();
        string data = Data(temp, "{", "[]");

        var e = Assert.Throws<DatasetFormatException>(() => SftDataset.Load(data, Model(temp, 300), new DatasetOptions(SkipBadRows: true)));

        Assert.Contains("no valid examples (2 bad rows skipped)", e.Message);
    }

    [Fact]
    public void TokenizerProblemsAreNotSkippedAsBadRows()
    {
        using var temp = new TempDirectory();
        string data = Data(temp, """{"instruction": "x", "output": "y"}""");

        Assert.Throws<TokenizerException>(() => SftDataset.Load(data, Model(temp, 100), new DatasetOptions(SkipBadRows: true)));
    }
}
