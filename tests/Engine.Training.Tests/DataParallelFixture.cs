using System.Runtime.InteropServices;
using System.Text.Json;
using Engine.Core.Model;
using Engine.Testing;

namespace Engine.Training.Tests;

/// <summary>A small Qwen2 (the untied GQA fixture's weights) and 16 random pre-tokenized rows of 5-14 tokens with
/// their first two labels ignored, for data-parallel runs; and reading a checkpoint's float32 state.</summary>
internal static class DataParallelFixture
{
    public static (string Model, string Data) Write(TempDirectory temp, int rows = 16, int seed = 7)
    {
        var f = Qwen2Fixture.Load("untied_gqa");
        string model = LossCommandTests.WriteModel(temp, f);
        var random = new Random(seed);
        var lines = new List<string>();
        for (int i = 0; i < rows; i++)
        {
            var ids = Enumerable.Range(0, random.Next(5, 15)).Select(_ => random.Next(f.Config.VocabSize)).ToArray();
            var labels = ids.Select((t, j) => j < 2 ? -100 : t).ToArray();
            lines.Add(JsonSerializer.Serialize(new { input_ids = ids, labels }));
        }
        string data = temp.Combine("data.jsonl");
        File.WriteAllLines(data, lines);
        return (model, data);
    }

    /// <summary>The common options of the runs compared (4 steps, constant lr, clipping and weight decay on);
    /// <paramref name="more"/> adds options or replaces these (flags without a value: --resume, --json).</summary>
    public static string[] Sft(string model, string data, string outDir, params string[] more)
    {
        var options = new List<(string Key, string? Value)>
        {
            ("--lr", "0.01"), ("--lr-schedule", "constant"), ("--max-steps", "4"), ("--seq-len", "32"), ("--packing", "none"),
            ("--threads", "1"), ("--weight-decay", "0.1"), ("--max-grad-norm", "0.5"),
        };
        for (int i = 0; i < more.Length; i++)
        {
            string? value = i + 1 < more.Length && !more[i + 1].StartsWith("--") ? more[++i] : null;
            int at = options.FindIndex(o => o.Key == more[value == null ? i : i - 1]);
            var option = (more[value == null ? i : i - 1], value);
            if (at >= 0) options[at] = option;
            else options.Add(option);
        }
        return ["sft", "--model", model, "--data", data, "--out", outDir, .. options.SelectMany(o => o.Value == null ? new[] { o.Key } : [o.Key, o.Value])];
    }

    /// <summary>Each tensor's float32 values from a checkpoint's optimizer/params.f32, by HF name.</summary>
    public static Dictionary<string, float[]> Parameters(string modelDir, string checkpoint)
    {
        using var directory = ModelDirectory.Open(modelDir);
        using var context = ComputeContext.CreateCpu(1);
        using var layout = Qwen2Model.Create(context, Qwen2Config.FromModelConfig(directory.Config!));
        var all = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Path.Combine(checkpoint, "optimizer", "params.f32"))).ToArray();
        return layout.Parameters.ToDictionary(p => p.Name, p => all.AsSpan((int)p.Offset, (int)p.Count).ToArray());
    }

    /// <summary>Fails unless every tensor agrees within <paramref name="relative"/> of that tensor's max |value|.</summary>
    public static void AssertClose(Dictionary<string, float[]> expected, Dictionary<string, float[]> actual, double relative, string what)
    {
        foreach (var (name, e) in expected)
        {
            var a = actual[name];
            double scale = e.Max(v => Math.Abs((double)v));
            for (int i = 0; i < e.Length; i++)
                Assert.True(Math.Abs(e[i] - a[i]) <= relative * scale,
                    $"{what}: {name}[{i}] expected {e[i]:R}, got {a[i]:R} (|diff| {Math.Abs(e[i] - a[i]):E2} > {relative:E0} x max {scale:R})");
        }
    }

    public static double[] Losses(string outDir) =>
        File.ReadAllLines(Path.Combine(outDir, "metrics.jsonl")).Select(l => (double)System.Text.Json.Nodes.JsonNode.Parse(l)!["loss"]!).ToArray();
}
