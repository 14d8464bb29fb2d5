using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core.Model;
using Engine.Testing;
using Engine.Training.Templates;
using Engine.Training.Tokenization;

namespace Engine.Training.Tests;

/// <summary><c>engine eval</c> end to end. Random models answer nothing on purpose, so each exact-match test runs
/// twice: the first run's generations become the references of the second, whose verdicts are then known.</summary>
public sealed class EvalCommandTests
{
    private static List<JsonObject> JsonLines(EngineProcess.Result result)
    {
        Assert.True(result.ExitCode == 0, result.Stderr);
        return result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
    }

    private static string Alpaca(string instruction, string output) => JsonSerializer.Serialize(new { instruction, output });

    [Fact]
    public void ExactMatchOnTextRowsComparesExtractedAnswers()
    {
        using var temp = new TempDirectory();
        string model = temp.Combine("model");
        SyntheticCheckpoint.Write(model, SyntheticModelSpec.Tiny with { VocabSize = 528 }, baseSeed: 1, expertSeed: null);
        string first = SftDatasetTests.Data(temp, [Alpaca("What is 2+2?", "4"), Alpaca("Name a colour.", "red")]);

        var run = JsonLines(EngineProcess.Run("eval", "--model", model, "--data", first, "--metric", "exact_match", "--max-new-tokens", "6",
            "--threads", "1", "--json"));

        Assert.Equal(3, run.Count);
        string prompt = $"<|im_start|>system\n{QwenChatTemplate.DefaultSystemPrompt}<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n";
        Assert.Equal(new ByteTokenizer().Encode(prompt).Length, (int)run[0]["prompt_tokens"]!);
        Assert.Equal("4", (string)run[0]["reference"]!);
        Assert.InRange((int)run[0]["new_tokens"]!, 0, 6);
        string generated = (string)run[0]["generated"]!;

        // Row 0's reference is now what the model says (boxed: the rule takes the box's content); row 1's is not.
        string second = temp.Combine("second.jsonl");
        File.WriteAllLines(second, [Alpaca("What is 2+2?", $"Reasoning. \\boxed{{{generated}}}"), Alpaca("Name a colour.", "Answer: not this")]);
        var again = JsonLines(EngineProcess.Run("eval", "--model", model, "--data", second, "--metric", "exact_match", "--max-new-tokens", "6",
            "--threads", "1", "--batch-size", "1", "--json"));

        Assert.Equal(generated, (string)again[0]["generated"]!);
        Assert.True((bool)again[0]["correct"]!);
        Assert.Equal("not this", (string)again[1]["reference"]!);
        Assert.False((bool)again[1]["correct"]!);
        var summary = again[2];
        Assert.True((bool)summary["summary"]!);
        Assert.Equal(2, (int)summary["n"]!);
        Assert.Equal(0.5, (double)summary["accuracy"]!);
        Assert.Equal(2, summary["ci95"]!.AsArray().Count);
    }

    [Fact]
    public void ExactMatchOnPreTokenizedRowsComparesTokenIds()
    {
        var f = Qwen2Fixture.Load("untied_gqa");
        using var temp = new TempDirectory();
        string model = LossCommandTests.WriteModel(temp, f);
        int[] promptA = [3, 14, 15, 9], promptB = [26, 5];
        string Row(int[] prompt, int[] reply) => JsonSerializer.Serialize(new
        {
            input_ids = prompt.Concat(reply).ToArray(),
            labels = prompt.Select(_ => -100).Concat(reply).ToArray(),
        });
        string first = SftDatasetTests.Data(temp, [Row(promptA, [1]), Row(promptB, [1])]);
        string[] args = ["--model", model, "--metric", "exact_match", "--max-new-tokens", "5", "--threads", "2", "--json"];

        var run = JsonLines(EngineProcess.Run(["eval", "--data", first, .. args]));

        var generatedA = run[0]["generated_ids"]!.AsArray().Select(t => (int)t!).ToArray();
        Assert.Equal(5, generatedA.Length);
        Assert.Equal("max_new_tokens", (string)run[0]["stop"]!);
        Assert.Equal([1], run[0]["reference_ids"]!.AsArray().Select(t => (int)t!));
        string second = temp.Combine("second.jsonl");
        File.WriteAllLines(second, [Row(promptA, generatedA), Row(promptB, generatedA)]);
        var again = JsonLines(EngineProcess.Run(["eval", "--data", second, "--batch-size", "3", .. args]));
        Assert.True((bool)again[0]["correct"]!);
        Assert.Equal(JsonSerializer.Serialize(run[1]["generated_ids"]), JsonSerializer.Serialize(again[1]["generated_ids"]));

        var text = EngineProcess.Run("eval", "--data", second, "--model", model, "--metric", "exact_match", "--max-new-tokens", "5");
        Assert.True(text.ExitCode == 0, text.Stderr);
        Assert.StartsWith(again[1]["correct"]!.GetValue<bool>() ? "accuracy 1.0000 (95% CI" : "accuracy 0.5000 (95% CI", text.Stdout);
        Assert.Contains("n = 2", text.Stdout);
    }

    [Fact]
    public void LossMetricIsEngineLossPerRow()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var temp = new TempDirectory();
        string model = LossCommandTests.WriteModel(temp, f);
        string data = SftDatasetTests.Data(temp, ["{\"input_ids\": [1, 2, 3, 4]}", "{\"input_ids\": [5, 6, 7], \"labels\": [-100, -100, 7]}"]);

        var eval = JsonLines(EngineProcess.Run("eval", "--model", model, "--data", data, "--metric", "loss", "--json"));
        var loss = JsonLines(EngineProcess.Run("loss", "--model", model, "--data", data, "--json"));

        Assert.Equal(3, eval.Count);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal((double)loss[i]["loss"]!, (double)eval[i]["loss"]!);
            Assert.Equal(i + 1, (int)eval[i]["line"]!);
        }
        double mean = ((double)loss[0]["loss"]! * 3 + (double)loss[1]["loss"]!) / 4;
        Assert.Equal(mean, (double)eval[2]["loss"]!, 1e-6);
        Assert.Equal(7, (long)eval[2]["tokens"]!);
    }

    [Theory]
    [InlineData("missing.jsonl", "exact_match", "16", "missing.jsonl")]
    [InlineData("data.jsonl", "f1", "16", "eval: --metric must be exact_match or loss, got 'f1'")]
    [InlineData("data.jsonl", "exact_match", "0", "eval: --max-new-tokens must be at least 1, got 0")]
    public void BadInputIsOneLineError(string dataFile, string metric, string maxNewTokens, string message)
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var temp = new TempDirectory();
        string model = LossCommandTests.WriteModel(temp, f);
        SftDatasetTests.Data(temp, ["{\"input_ids\": [1, 2, 3]}"]);

        var result = EngineProcess.Run("eval", "--model", model, "--data", temp.Combine(dataFile), "--metric", metric, "--max-new-tokens", maxNewTokens);

        Assert.Equal(1, result.ExitCode);
        string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("engine: error: ", line);
        Assert.Contains(message, line);
        Assert.Equal("", result.Stdout);
    }
}
