using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
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

    [Theory]
    [InlineData("--lr", "-1", "--lr must be a finite number >= 0, got -1")]
    [InlineData("--threads", "-2", "--threads must be >= 0 (0 = all cores), got -2")]
    [InlineData("--packing", "best", "--packing must be none, greedy or neat, got 'best'")]
    [InlineData("--max-grad-norm", "-1", "--max-grad-norm must be >= 0 (0 = off), got -1")]
    [InlineData("--adam-beta2", "1", "--adam-beta2 must be in [0, 1), got 1")]
    [InlineData("--warmup-ratio", "1.5", "--warmup-ratio must be in [0, 1], got 1.5")]
    [InlineData("--device", "tpu", "--device 'tpu' must be auto, cpu, cuda or cuda:N")]
    [InlineData("--device", "cuda:-1", "--device 'cuda:-1' must be auto, cpu, cuda or cuda:N")]
    public void InvalidOptionValuesAreOneLineErrors(string option, string value, string message)
    {
        var result = EngineProcess.Run("sft", "--model", "m", "--data", "d", "--out", "o", option, value);
        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"engine: error: sft: {message}", result.Stderr.Trim());
    }

    private static (string Model, string Data) WriteModelAndData(TempDirectory temp, Qwen2Fixture f)
    {
        string model = LossCommandTests.WriteModel(temp, f);
        string data = temp.Combine("data.jsonl");
        File.WriteAllLines(data, [JsonSerializer.Serialize(new { input_ids = f.Tokens[..13], labels = f.Labels[..13] }),
            JsonSerializer.Serialize(new { input_ids = f.Tokens[13..], labels = f.Labels[13..] })]);
        return (model, data);
    }

    [Fact]
    public void StepLinesOnAPipeAndPreviousRunsAreKept()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var temp = new TempDirectory();
        var (model, data) = WriteModelAndData(temp, f);
        string outDir = temp.Combine("out");
        string[] args = ["sft", "--model", model, "--data", data, "--out", outDir, "--max-steps", "3", "--seq-len", "32", "--packing", "neat",
            "--max-grad-norm", "0", "--threads", "1"];

        var first = EngineProcess.Run([.. args, "--resume"]);

        Assert.True(first.ExitCode == 0, first.Stderr);
        var lines = first.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal($"engine sft: --resume: no checkpoint under {outDir}; starting at step 0", lines[0]);
        var step = new Regex(@"^step (\d+)/3  loss \d+\.\d{4}  lr \d\.\d{2}E[-+]\d{3}  grad_norm \d+\.\d{3}  \d+ tok/s  eta \d+:\d{2}:\d{2}$");
        // Then the plan (ranks, global batch, memory), the step lines, the summary.
        Assert.StartsWith("engine sft: 1 rank(s), global batch 1 sequences", lines[1]);
        Assert.StartsWith("engine sft: memory per rank ", lines[2]);
        Assert.Equal(["1", "2", "3"], lines[3..6].Select(l => step.Match(l)).Select(m => m.Success ? m.Groups[1].Value : "no match: " + m));
        Assert.StartsWith("engine sft: 3 steps; final checkpoint ", lines[6]);

        var again = EngineProcess.Run(args);
        Assert.Equal(1, again.ExitCode);
        Assert.Equal($"engine: error: {outDir}: holds a previous run (checkpoint-3); pass --resume to continue it, --overwrite-output-dir to delete it " +
            "and start over, or choose another --out", again.Stderr.Trim());

        var done = EngineProcess.Run([.. args, "--resume"]);
        Assert.True(done.ExitCode == 0, done.Stderr);
        Assert.EndsWith("checkpoint-3 already holds all 3 steps; nothing left to do", done.Stderr.Trim());

        var over = EngineProcess.Run([.. args, "--overwrite-output-dir"]);
        Assert.True(over.ExitCode == 0, over.Stderr);
        Assert.Equal(3, File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl")).Length);
    }

    [Fact]
    public void KilledRunResumesBitIdentically()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var temp = new TempDirectory();
        var (model, data) = WriteModelAndData(temp, f);
        string[] Args(string outDir) => ["sft", "--model", model, "--data", data, "--out", outDir, "--lr", "0.01", "--lr-schedule", "cosine",
            "--warmup-ratio", "0.1", "--max-steps", "300", "--save-steps", "7", "--seq-len", "32", "--packing", "none", "--threads", "1"];
        string straight = temp.Combine("straight"), killed = temp.Combine("killed");

        var whole = EngineProcess.Run(Args(straight));
        // SIGKILL right after step 40 is logged: no handler runs, a checkpoint write may be cut short.
        var crash = EngineProcess.Run(line => line.StartsWith("step 40/", StringComparison.Ordinal), Args(killed));
        var resumed = EngineProcess.Run([.. Args(killed), "--resume"]);

        Assert.True(whole.ExitCode == 0, whole.Stderr);
        Assert.NotEqual(0, crash.ExitCode);
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.StartsWith($"engine sft: resuming from {Path.Combine(killed, "checkpoint-")}", resumed.Stderr);
        string[] fields = ["step", "loss", "lr", "grad_norm", "tokens"];
        List<string> Log(string dir) => File.ReadAllLines(Path.Combine(dir, "metrics.jsonl"))
            .Select(l => JsonNode.Parse(l)!).Select(m => string.Join(",", fields.Select(k => m[k]!.ToJsonString()))).ToList();
        Assert.Equal(Log(straight), Log(killed));
        foreach (var file in new[] { "model.safetensors", "optimizer/adam_v.rank00000.f32", "config.json" })
        {
            Assert.True(File.ReadAllBytes(Path.Combine(straight, "checkpoint-300", file))
                .SequenceEqual(File.ReadAllBytes(Path.Combine(killed, "checkpoint-300", file))), file);
        }
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
        // The step's FLOPs as TrainingFlops counts them; no MFU off a GPU.
        var config = new Qwen2Config(256, 64, 128, 1, 4, 2, tieWordEmbeddings: true, rmsNormEps: 1e-6, ropeTheta: 1e6);
        Assert.Equal(TrainingFlops.Step(config, 2, 16), (double)report["step_flops"]!);
        Assert.Null(report["mfu"]);
        // The peer needs python3 with torch: either it ran, or the report says why not.
        Assert.True(report["peer_tokens_per_s"] is not null || report["peer_error"] is not null, result.Stdout);
    }
}

/// <summary>The other trainer commands take the same <c>--device</c>: unknown devices are refused by name, and a GPU
/// where there is no CUDA driver fails with one line naming it.</summary>
public sealed class TrainerDeviceOptionTests
{
    [Fact]
    public void AnUnknownDeviceIsRefusedByName()
    {
        var result = EngineProcess.Run("loss", "--model", "m", "--data", "d", "--device", "ilgpu");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--device 'ilgpu' must be auto, cpu, cuda or cuda:N", result.Stderr);
        Assert.Single(result.Stderr.Trim().Split('\n'));
    }

    [Fact]
    public void EvalOnAGpuIsRefusedInOneLineSayingTheDecoderIsCpuOnly()
    {
        var result = EngineProcess.Run("eval", "--model", "m", "--data", "d", "--metric", "exact_match", "--device", "cuda");
        Assert.Equal(1, result.ExitCode);
        string line = Assert.Single(result.Stderr.Trim().Split('\n'));
        Assert.Contains("eval: --device cuda: eval computes on the CPU only (its generation uses the decoder, which has no GPU path yet)", line);
    }

    [Fact]
    public void BenchSftRefusesAnUnknownSize()
    {
        var result = EngineProcess.Run("bench", "sft", "--size", "7b", "--device", "cpu");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("bench sft: --size '7b' must be 0.5b", Assert.Single(result.Stderr.Trim().Split('\n')));
    }

    [Fact]
    public void BenchSftOnCudaWithoutADriverFailsWithOneLine()
    {
        if (Engine.Interop.Cuda.CudaLibrary.Availability.IsAvailable) return; // a GPU machine runs it: docs/gpu-trainer-check.sh
        var result = EngineProcess.Run("bench", "sft", "--device", "cuda");
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no CUDA driver", result.Stderr);
        Assert.Single(result.Stderr.Trim().Split('\n'));
    }
}
