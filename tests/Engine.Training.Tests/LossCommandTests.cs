using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Testing;

namespace Engine.Training.Tests;

/// <summary><c>engine loss</c> end to end: a model directory written from a fixture, its documents as JSONL rows,
/// per-example losses against the float64 PyTorch reference's token losses.</summary>
public sealed class LossCommandTests
{
    internal static string WriteModel(TempDirectory temp, Qwen2Fixture f)
    {
        using var context = ComputeContext.CreateCpu(threads: 1);
        using var layout = f.CreateModel(context, ComputeDType.Float32);
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("Qwen2ForCausalLM"), ["model_type"] = "qwen2",
            ["vocab_size"] = f.Config.VocabSize, ["hidden_size"] = f.Config.HiddenSize, ["intermediate_size"] = f.Config.IntermediateSize,
            ["num_hidden_layers"] = f.Config.NumLayers, ["num_attention_heads"] = f.Config.NumHeads,
            ["num_key_value_heads"] = f.Config.NumKeyValueHeads, ["rms_norm_eps"] = f.Config.RmsNormEps, ["rope_theta"] = f.Config.RopeTheta,
            ["tie_word_embeddings"] = f.Config.TieWordEmbeddings, ["torch_dtype"] = "float32",
        };
        string dir = temp.Combine("model");
        TestModels.Write(dir, DType.F32, layout.Parameters.Select(p => (p.Name, p.Shape.ToArray(), f.GetSingle("param/" + p.Name))), config);
        return dir;
    }

    [Theory]
    [InlineData("untied_gqa", 1)]
    [InlineData("untied_gqa", 16)]
    [InlineData("tied_mqa", 4096)]
    public void JsonLossesMatchReferencePerExample(string caseName, int batchTokens)
    {
        var f = Qwen2Fixture.Load(caseName);
        using var temp = new TempDirectory();
        string model = WriteModel(temp, f);
        var lines = new List<string>();
        var expected = new List<(double Loss, int Tokens)>();
        var tokenLosses = f.Get("token_losses");
        int start = 0;
        foreach (int n in f.DocumentLengths)
        {
            var ids = f.Tokens[start..(start + n)];
            var labels = f.Labels[start..(start + n)];
            lines.Add(JsonSerializer.Serialize(new { input_ids = ids, labels }));
            int scored = Enumerable.Range(1, n - 1).Count(t => labels[t] != -100);
            expected.Add((tokenLosses.Skip(start).Take(n).Sum() / scored, scored));
            start += n;
        }
        lines.Insert(1, "");  // blank lines are skipped, not examples
        string data = temp.Combine("data.jsonl");
        File.WriteAllLines(data, lines);

        var result = EngineProcess.Run("loss", "--model", model, "--data", data, "--json", "--threads", "1", "--batch-tokens", batchTokens.ToString(CultureInfo.InvariantCulture));

        Assert.True(result.ExitCode == 0, result.Stderr);
        var rows = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Equal(expected.Count, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.Equal(i, (int)rows[i]["index"]!);
            Assert.Equal(expected[i].Tokens, (int)rows[i]["tokens"]!);
            Tolerance.Float32.AssertClose($"{caseName}/example {i} loss", expected[i].Loss, (double)rows[i]["loss"]!);
        }
    }

    [Fact]
    public void BadRowIsAnErrorNamingFileAndLine()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var temp = new TempDirectory();
        string model = WriteModel(temp, f);
        string data = temp.Combine("data.jsonl");
        File.WriteAllLines(data, ["{\"input_ids\": [1, 2, 3]}", "{\"input_ids\": [1, 2], \"labels\": [1]}"]);

        var result = EngineProcess.Run("loss", "--model", model, "--data", data);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"{data}:2: 'labels' has 1 entries for 2 input_ids", result.Stderr);
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public void TokenOutsideVocabularyIsAnErrorNotACrash()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var temp = new TempDirectory();
        string model = WriteModel(temp, f);
        string data = temp.Combine("data.jsonl");
        File.WriteAllLines(data, [$"{{\"input_ids\": [1, {f.Config.VocabSize}, 3]}}"]);

        var result = EngineProcess.Run("loss", "--model", model, "--data", data, "--json");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("outside the vocabulary", result.Stderr);
    }

    [Fact]
    public void SkipBadRowsCountsThemAndScoresTheRest()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var temp = new TempDirectory();
        string model = WriteModel(temp, f);
        string data = temp.Combine("data.jsonl");
        File.WriteAllLines(data, ["{\"input_ids\": [1, 2, 3]}", "not json", "{\"input_ids\": [4, 5], \"labels\": [1]}", "{\"input_ids\": [6, 7]}"]);

        var result = EngineProcess.Run("loss", "--model", model, "--data", data, "--json", "--skip-bad-rows");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("skipped 2 bad row(s)", result.Stderr);
        var rows = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal([2, 1], rows.Select(r => (int)r["tokens"]!));
    }
}

