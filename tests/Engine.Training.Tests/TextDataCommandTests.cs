using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core.Model;
using Engine.Testing;
using Engine.Training.Tokenization;

namespace Engine.Training.Tests;

/// <summary><c>engine sft</c> and <c>engine loss</c> end to end on text rows, on a tiny synthetic model.</summary>
public sealed class TextDataCommandTests
{
    private static string Alpaca(string instruction, string output) => JsonSerializer.Serialize(new { instruction, input = "", output });

    private static string Messages(string user, string assistant) => JsonSerializer.Serialize(new
    {
        messages = new[] { new { role = "user", content = user }, new { role = "assistant", content = assistant } },
    });

    /// <summary>A tiny random model; with <paramref name="withTokenizer"/> it carries the fixture's tokenizer.json.</summary>
    private static string TinyModel(TempDirectory temp, bool withTokenizer)
    {
        string model = temp.Combine("model");
        SyntheticCheckpoint.Write(model, SyntheticModelSpec.Tiny with { VocabSize = 528 }, baseSeed: 1, expertSeed: null);
        if (withTokenizer) File.Copy(TokenizerFixture.TokenizerJson, Path.Combine(model, ModelTokenizer.FileName));
        return model;
    }

    [Fact]
    public void SftTrainsOnAlpacaRowsWithTheByteTokenizer()
    {
        using var temp = new TempDirectory();
        string model = TinyModel(temp, withTokenizer: false);
        string data = SftDatasetTests.Data(temp, [Alpaca("Say hi.", "hi"), "{\"instruction\": 1}", Alpaca("Count to three.", "1 2 3")]);
        string outDir = temp.Combine("out");

        var sft = EngineProcess.Run("sft", "--model", model, "--data", data, "--out", outDir, "--lr", "0.01", "--lr-schedule", "constant",
            "--max-steps", "2", "--seq-len", "256", "--threads", "1", "--skip-bad-rows");

        Assert.True(sft.ExitCode == 0, sft.Stderr);
        Assert.Contains("tokenizer byte-level", sft.Stderr);
        Assert.Contains($"skipped 1 bad row(s) of {data}", sft.Stderr);
        Assert.Contains("step 2/2", sft.Stderr);
    }

    [Fact]
    public void LossScoresTheAssistantTokensOfMessagesRows()
    {
        using var temp = new TempDirectory();
        string model = TinyModel(temp, withTokenizer: true);
        (string User, string Reply)[] rows = [("What is the capital of France?", "Paris."), ("Hello", "The quick brown fox.")];
        string data = SftDatasetTests.Data(temp, rows.Select(r => Messages(r.User, r.Reply)));

        var result = EngineProcess.Run("loss", "--model", model, "--data", data, "--json", "--threads", "1");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var tokenizer = HuggingFaceTokenizer.Load(TokenizerFixture.TokenizerJson);
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(rows.Length, lines.Count);
        for (int i = 0; i < rows.Length; i++)
        {
            Assert.Equal(tokenizer.Encode(rows[i].Reply + "<|im_end|>\n").Length, (int)lines[i]["tokens"]!);
            // Small random weights give nearly uniform logits: the loss is close to ln(vocab_size).
            Assert.InRange((double)lines[i]["loss"]!, Math.Log(528) - 0.5, Math.Log(528) + 0.5);
        }
    }

    [Fact]
    public void UnknownTemplateIsOneLineError()
    {
        using var temp = new TempDirectory();
        string model = TinyModel(temp, withTokenizer: false);
        string data = SftDatasetTests.Data(temp, [Alpaca("x", "y")]);

        var result = EngineProcess.Run("loss", "--model", model, "--data", data, "--template", "llama3");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("unknown chat template 'llama3' (supported: qwen)", result.Stderr);
    }
}
