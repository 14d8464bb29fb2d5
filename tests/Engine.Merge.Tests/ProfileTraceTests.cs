using System.Text.Json.Nodes;
using Engine.Core.Diagnostics;
using Engine.Core.Model;
using Engine.Testing;

namespace Engine.Merge.Tests;

/// <summary><c>--profile</c> of <c>engine merge</c> and <c>engine bench merge</c>: the trace file, and the
/// per-stage summary and verdict printed or embedded in the JSON report.</summary>
public sealed class ProfileTraceTests
{
    private static string Config(TempDirectory dir)
    {
        SyntheticCheckpoint.Write(dir.Combine("b"), SyntheticModelSpec.Tiny, 1, null);
        SyntheticCheckpoint.Write(dir.Combine("p"), SyntheticModelSpec.Tiny with { DType = Engine.Core.DType.F32 }, 1, 2);
        File.WriteAllText(dir.Combine("c.yml"), $"merge_method: arcee_fusion\nbase_model: {dir.Combine("b")}\nmodels:\n  - model: {dir.Combine("p")}\ndtype: bfloat16\n");
        return dir.Combine("c.yml");
    }

    [Fact]
    public void MergeWritesAChromeTraceOfItsStages()
    {
        using var dir = new TempDirectory();
        var result = EngineProcess.Run("merge", Config(dir), "--out", dir.Combine("out"), "--profile", dir.Combine("trace.json"), "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var events = JsonNode.Parse(File.ReadAllText(dir.Combine("trace.json")))!["traceEvents"]!.AsArray();
        var complete = events.Where(e => e!["ph"]!.GetValue<string>() == "X").ToList();
        var categories = complete.Select(e => e!["cat"]!.GetValue<string>()).ToHashSet();
        foreach (var category in new[] { "tensor", "read", "convert", "kernel", "write" }) Assert.Contains(category, categories);
        Assert.All(complete, e => Assert.True(e!["dur"]!.GetValue<double>() >= 0));
        int tensors = SyntheticModelSpec.Tiny.Tensors().Count;
        Assert.Equal(tensors, complete.Count(e => e!["cat"]!.GetValue<string>() == "tensor"));
        Assert.Equal(tensors, complete.Count(e => e!["name"]!.GetValue<string>() == "row_importance"));
        Assert.Single(complete, e => e!["name"]!.GetValue<string>() == "commit (flush to disk)");

        var profile = JsonNode.Parse(result.Stdout)!["profile"]!;
        CheckProfile(profile, complete.Count, ["tensor", "read", "convert", "kernel", "write"]);
        Assert.Equal(Path.GetFullPath(dir.Combine("trace.json")), profile["trace"]!.GetValue<string>());
    }

    [Fact]
    public void AnIlgpuMergeTracesItsUploadsKernelsAndDownloadsApart()
    {
        using var dir = new TempDirectory();
        var result = EngineProcess.Run("merge", Config(dir), "--out", dir.Combine("out"), "--device", "ilgpu-cpu", "--threads", "2",
            "--profile", dir.Combine("trace.json"), "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var complete = JsonNode.Parse(File.ReadAllText(dir.Combine("trace.json")))!["traceEvents"]!.AsArray()
            .Where(e => e!["ph"]!.GetValue<string>() == "X").ToList();
        int tensors = SyntheticModelSpec.Tiny.Tensors().Count;
        // The wrapper's spans become "call" containers; the backend's own upload / kernel / download spans sit inside.
        Assert.Equal(tensors, complete.Count(e => e!["name"]!.GetValue<string>() == "row_importance" && e["cat"]!.GetValue<string>() == "call"));
        Assert.Equal(tensors, complete.Count(e => e!["name"]!.GetValue<string>() == "row_importance (device)" && e["cat"]!.GetValue<string>() == "kernel"));
        CheckProfile(JsonNode.Parse(result.Stdout)!["profile"]!, complete.Count, ["tensor", "call", "upload", "kernel", "download", "write"]);
    }

    [Fact]
    public void MergeKeepsItsReportFieldsAndPrintsTheSummaryTableWithoutJson()
    {
        using var dir = new TempDirectory();
        var plain = EngineProcess.Run("merge", Config(dir), "--out", dir.Combine("out"), "--profile", dir.Combine("trace.json"));
        Assert.True(plain.ExitCode == 0, plain.Stderr);
        Assert.Contains("busy % of wall", plain.Stdout);
        Assert.Contains("tensor (wraps stages)", plain.Stdout);
        Assert.Matches(@"profile: bound by (read|convert|kernel|write): busy \d+% of the \d+\.\d{3} s traced", plain.Stdout);

        // The report on disk is the one a run without --profile writes; the printed one adds "profile" only.
        var onDisk = JsonNode.Parse(File.ReadAllText(dir.Combine("out", "merge-report.json")))!.AsObject();
        Assert.Null(onDisk["profile"]);
        var printed = EngineProcess.Run("merge", dir.Combine("c.yml"), "--out", dir.Combine("out2"), "--profile", dir.Combine("trace2.json"), "--json");
        Assert.True(printed.ExitCode == 0, printed.Stderr);
        var keys = JsonNode.Parse(printed.Stdout)!.AsObject().Select(kv => kv.Key).ToList();
        Assert.Equal(onDisk.Select(kv => kv.Key).Append("profile"), keys);
    }

    [Fact]
    public void BenchMergeTracesOneExtraRunOfAOneLayerModel()
    {
        using var dir = new TempDirectory();
        var run = EngineProcess.Run("bench", "merge", "--size", "tiny", "--layers", "1", "--repeat", "1", "--threads", "1",
            "--dir", dir.Combine("models"), "--profile", dir.Combine("bench-trace.json"), "--json");
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("engine: generating the base model (", run.Stderr);
        Assert.Contains("engine: generating an expert model (", run.Stderr);
        var report = JsonNode.Parse(run.Stdout)!;
        Assert.Equal(1, report["layers"]!.GetValue<int>());
        Assert.Equal((SyntheticModelSpec.Tiny with { Layers = 1 }).Parameters, report["elements_per_model"]!.GetValue<long>());
        var events = JsonNode.Parse(File.ReadAllText(dir.Combine("bench-trace.json")))!["traceEvents"]!.AsArray()
            .Where(e => e!["ph"]!.GetValue<string>() == "X").ToList();
        // One traced merge, not the warm-up, floor or timed runs: each tensor once.
        int tensors = (SyntheticModelSpec.Tiny with { Layers = 1 }).Tensors().Count;
        Assert.Equal(tensors, events.Count(e => e!["cat"]!.GetValue<string>() == "tensor"));
        CheckProfile(report["profile"]!, events.Count, ["tensor", "read", "kernel", "write"]);
        Assert.False(Directory.Exists(dir.Combine("models", "out")));

        // A second run reuses the models; another layer count in the same --dir is refused, not mislabelled.
        var again = EngineProcess.Run("bench", "merge", "--size", "tiny", "--layers", "1", "--repeat", "1", "--threads", "1", "--dir", dir.Combine("models"), "--json");
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.DoesNotContain("generating", again.Stderr);
        Assert.Null(JsonNode.Parse(again.Stdout)!["profile"]);
        var other = EngineProcess.Run("bench", "merge", "--size", "tiny", "--layers", "2", "--repeat", "1", "--dir", dir.Combine("models"));
        Assert.Equal(1, other.ExitCode);
        Assert.Equal($"engine: error: {dir.Combine("models", "base")} holds a model of another shape than this --size and --layers; delete it or pick another --dir", other.Stderr.Trim());
    }

    [Theory]
    [InlineData("--layers", "0", "engine: error: --layers 0 must be a positive layer count")]
    [InlineData("--layers", "-3", "engine: error: --layers -3 must be a positive layer count")]
    [InlineData("--size", "7b", "engine: error: --size '7b' must be tiny, 0.5b or 32b")]
    public void BadSizeOrLayersIsAOneLineError(string option, string value, string expected)
    {
        using var dir = new TempDirectory();
        var run = EngineProcess.Run("bench", "merge", option, value, "--dir", dir.Combine("models"));
        Assert.Equal(1, run.ExitCode);
        Assert.Equal(expected, run.Stderr.Trim());
        Assert.False(Directory.Exists(dir.Combine("models")));
    }

    [Fact]
    public void BenchRefusesADiskTooSmallBeforeGeneratingAnything()
    {
        // 10,000 layers of 32B shape: 9.76 TB per model, more than any disk this test runs on.
        using var dir = new TempDirectory();
        var run = EngineProcess.Run("bench", "merge", "--size", "32b", "--layers", "10000", "--dir", dir.Combine("models"));
        Assert.Equal(1, run.ExitCode);
        Assert.Matches(@"^engine: error: \S+models: generating 2 model\(s\) of 9755\.2 GB and writing 1 output\(s\) needs 29265\.7 GB, but only [\d.]+ GB is free; pass fewer --layers or another --dir$",
            run.Stderr.Trim());
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Combine("models")));
    }

    /// <summary>The report's profile object: every listed category, busy time within the wall and within the
    /// summed time, span counts adding up to the trace file's, and a verdict naming a stage (not a container).</summary>
    private static void CheckProfile(JsonNode profile, int spansInFile, string[] expectedCategories)
    {
        double wall = profile["wall_seconds"]!.GetValue<double>();
        Assert.True(wall > 0);
        Assert.Equal(spansInFile, profile["spans"]!.GetValue<int>());
        var categories = profile["categories"]!.AsArray().Select(c => c!).ToList();
        foreach (var expected in expectedCategories) Assert.Contains(categories, c => c["category"]!.GetValue<string>() == expected);
        Assert.Equal(spansInFile, categories.Sum(c => c["spans"]!.GetValue<int>()));
        Assert.All(categories, c =>
        {
            double busy = c["busy_seconds"]!.GetValue<double>();
            Assert.InRange(busy, 0, wall);
            Assert.True(busy <= c["summed_seconds"]!.GetValue<double>(), c.ToJsonString());
            Assert.InRange(c["busy_fraction"]!.GetValue<double>(), 0, 1);
        });
        string bound = profile["bound_by"]!.GetValue<string>();
        Assert.DoesNotContain(bound, TraceSummary.ContainerCategories);
        double boundBusy = categories.Single(c => c["category"]!.GetValue<string>() == bound)["busy_seconds"]!.GetValue<double>();
        Assert.All(categories.Where(c => !c["container"]!.GetValue<bool>()), c => Assert.True(c["busy_seconds"]!.GetValue<double>() <= boundBusy));
    }
}
