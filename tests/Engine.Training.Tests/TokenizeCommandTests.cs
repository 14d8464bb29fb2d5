using System.Text.Json.Nodes;
using Engine.Testing;
using Engine.Training.Data;
using Engine.Training.Tokenization;

namespace Engine.Training.Tests;

/// <summary><c>engine tokenize</c> end to end on a folder holding only the fixture's tokenizer.json.</summary>
public sealed class TokenizeCommandTests
{
    private const string Rows = """
        {"messages": [{"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "Paris.\n\tDone"}]}
        {"instruction": "Say hi", "output": "你好"}

        {"input_ids": [72, 105], "labels": [-100, 105]}
        """;

    private static (string Folder, string Data) Write(TempDirectory temp)
    {
        string folder = temp.Combine("tokenizer-only");
        Directory.CreateDirectory(folder);
        File.Copy(TokenizerFixture.TokenizerJson, Path.Combine(folder, ModelTokenizer.FileName));
        return (folder, SftDatasetTests.Data(temp, Rows.Split('\n')));
    }

    [Fact]
    public void JsonRowsAreWhatSftLoads()
    {
        using var temp = new TempDirectory();
        var (folder, data) = Write(temp);

        var result = EngineProcess.Run("tokenize", "--model", folder, "--data", data, "--json", "--system", "Be brief.");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var expected = SftDataset.Load(data, folder, new DatasetOptions(SystemPrompt: "Be brief.")).Examples;
        var rows = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(expected.Select(e => e.Line), rows.Select(r => (int)r["line"]!));
        var tokenizer = HuggingFaceTokenizer.Load(TokenizerFixture.TokenizerJson);
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.Equal(expected[i].InputIds, Ints(rows[i]["ids"]!));
            Assert.Equal(expected[i].Labels, Ints(rows[i]["labels"]!));
            Assert.Equal(expected[i].Labels.Select(l => l == -100 ? 0 : 1), Ints(rows[i]["loss_mask"]!));
            // Together the tokens are the row's text, but for characters cut into several tokens, written as \xNN
            // bytes (the fixture's small vocabulary has no token for 你).
            var tokens = rows[i]["tokens"]!.AsArray().Select(t => (string)t!).ToList();
            string text = tokenizer.Decode(expected[i].InputIds).Replace("你", @"\xE4\xBD\xA0");
            Assert.Equal(text, string.Concat(tokens));
        }
    }

    [Fact]
    public void HumanViewMarksTheTrainedRunsAndCountsEveryRow()
    {
        using var temp = new TempDirectory();
        var (folder, data) = Write(temp);

        var result = EngineProcess.Run("tokenize", "--model", folder, "--data", data, "--show", "1");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var examples = SftDataset.Load(data, folder, new DatasetOptions()).Examples;
        string[] lines = result.Stdout.Split('\n');
        Assert.StartsWith($"line 1: {examples[0].InputIds.Length} tokens, {examples[0].Labels.Count(l => l != -100)} with loss", lines[0]);
        Assert.Contains(lines, l => l.StartsWith("  no loss │<|im_start|>│", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("  loss    │", StringComparison.Ordinal) && l.Contains(@"\n") && l.EndsWith("│<|im_end|>│\\n│", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.StartsWith("line 2", StringComparison.Ordinal));
        long tokens = examples.Sum(e => e.InputIds.Length), labels = examples.Sum(e => e.Labels.Count(l => l != -100));
        Assert.Contains($"3 rows (1 shown), {tokens} tokens, {labels} label tokens", result.Stdout);
        Assert.Contains("engine tokenize: tokenizer", result.Stderr);
    }

    [Fact]
    public void AFolderWithNeitherTokenizerNorConfigIsOneLineError()
    {
        using var temp = new TempDirectory();
        var (_, data) = Write(temp);
        string empty = temp.Combine("empty");
        Directory.CreateDirectory(empty);

        var result = EngineProcess.Run("tokenize", "--model", empty, "--data", data);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"engine: error: {empty}: neither tokenizer.json nor config.json: no tokenizer to use (the byte-level fallback needs a model's config.json)", result.Stderr.Trim());
    }

    [Fact]
    public void ABadRowIsOneLineErrorNamingTheLine()
    {
        using var temp = new TempDirectory();
        var (folder, _) = Write(temp);
        string data = SftDatasetTests.Data(temp, """{"instruction": "x", "output": "y"}""", """{"messages": 1}""");

        var result = EngineProcess.Run("tokenize", "--model", folder, "--data", data);

        Assert.Equal(1, result.ExitCode);
        Assert.EndsWith($"engine: error: {data}:2: 'messages' must be an array, found a number", result.Stderr.Trim());
    }

    private static int[] Ints(JsonNode array) => array.AsArray().Select(n => (int)n!).ToArray();
}
