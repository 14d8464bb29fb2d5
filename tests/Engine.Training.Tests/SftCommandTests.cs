using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Testing;

namespace Engine.Training.Tests;

/// <summary><c>engine sft</c> end to end, then <c>engine loss</c> on its final checkpoint.</summary>
public sealed class SftCommandTests
{
    [Fact]
    public void SftTrainsAndItsCheckpointScoresLower()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var temp = new TempDirectory();
        string model = LossCommandTests.WriteModel(temp, f);
        string data = temp.Combine("data.jsonl");
        File.WriteAllLines(data, [JsonSerializer.Serialize(new { input_ids = f.Tokens[..13], labels = f.Labels[..13] }),
            JsonSerializer.Serialize(new { input_ids = f.Tokens[13..], labels = f.Labels[13..] })]);
        string outDir = temp.Combine("out");

        var sft = EngineProcess.Run("sft", "--model", model, "--data", data, "--out", outDir, "--lr", "0.02", "--lr-schedule", "constant",
            "--max-steps", "4", "--seq-len", "32", "--threads", "1");

        Assert.True(sft.ExitCode == 0, sft.Stderr);
        Assert.Contains("step 4/4", sft.Stderr);
        Assert.Equal(4, File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl")).Length);
        var before = EngineProcess.Run("loss", "--model", model, "--data", data, "--json");
        var after = EngineProcess.Run("loss", "--model", Path.Combine(outDir, "checkpoint-4"), "--data", data, "--json");
        double Mean(EngineProcess.Result r) => r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Average(l => (double)JsonNode.Parse(l)!["loss"]!);
        Assert.True(Mean(after) < Mean(before) - 0.5, $"loss before {Mean(before)}, after {Mean(after)}");
    }

    [Fact]
    public void BadOptionIsOneLineError()
    {
        var result = EngineProcess.Run("sft", "--model", "m", "--data", "d", "--out", "o", "--lr-schedule", "linear");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--lr-schedule must be constant, constant_with_warmup or cosine, got 'linear'", result.Stderr);
    }

    [Fact]
    public void BenchSftReportsNativeAndPeerThroughput()
    {
        var result = EngineProcess.Run("bench", "sft", "--hidden", "64", "--intermediate", "128", "--layers", "1", "--heads", "4", "--kv-heads", "2",
            "--vocab", "256", "--docs", "2", "--doc-len", "16", "--threads", "1", "--repeat", "1", "--peer", "--json");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var report = JsonNode.Parse(result.Stdout.Trim())!.AsObject();
        Assert.Equal(32, (int)report["tokens"]!);
        Assert.True((double)report["native_tokens_per_s"]! > 0);
        // The peer needs python3 with torch: either it ran, or the report says why not.
        Assert.True(report["peer_tokens_per_s"] is not null || report["peer_error"] is not null, result.Stdout);
    }
}
