using System.Text.Json.Nodes;
using Engine.Core.Model;
using Engine.Testing;

namespace Engine.Merge.Tests;

public sealed class DemoEndToEndTests
{
    [Fact]
    public void DemoWritesFamilyMergesInTinyR1OrderAndPrintsReport()
    {
        using var dir = new TempDirectory();
        var result = EngineProcess.Run("demo", "--dir", dir.Path, "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var report = JsonNode.Parse(result.Stdout)!;
        Assert.Equal(2, report["stages"]!.AsArray().Count);
        Assert.Equal("science", report["stages"]![0]!["base"]!.GetValue<string>());
        Assert.Equal("coding", report["stages"]![1]!["base"]!.GetValue<string>());
        using var merged = ModelDirectory.Open(dir.Combine("merged"));
        Assert.Equal(SyntheticModelSpec.Tiny.Tensors().Count, merged.Tensors.Count);
        Assert.All(merged.Tensors, t => Assert.Equal(Engine.Core.DType.BF16, t.Info.DType));
        Assert.True(File.Exists(dir.Combine("merged", "merge-report.json")));
    }

    [Fact]
    public void DemoTableNamesAndTimesEachTensorOnce()
    {
        // Each tensor has a row per stage (math-science, output) but one time, measured over both stages.
        using var dir = new TempDirectory();
        var result = EngineProcess.Run("demo", "--dir", dir.Path);
        Assert.True(result.ExitCode == 0, result.Stderr);
        var lines = result.Stdout.Split('\n');
        foreach (var name in SyntheticModelSpec.Tiny.Tensors().Select(t => t.Name))
            Assert.Single(lines, l => l.Contains($" {name} ", StringComparison.Ordinal));
        Assert.Equal(lines.Count(l => l.Contains(" math-science ", StringComparison.Ordinal)), lines.Count(l => l.Contains(" output ", StringComparison.Ordinal)));
    }
}
