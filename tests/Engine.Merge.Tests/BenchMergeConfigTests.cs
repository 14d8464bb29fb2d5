using System.Text.Json.Nodes;
using Engine.Merge.Benchmarks;
using Engine.Merge.Config;
using Engine.Merge.Methods;
using Engine.Testing;

namespace Engine.Merge.Tests;

/// <summary><c>engine bench merge --method</c>: a valid config for every method, and one real run.</summary>
public sealed class BenchMergeConfigTests
{
    public static TheoryData<string> Methods() => new(MergeMethodRegistry.Names);

    [Theory]
    [MemberData(nameof(Methods))]
    public void EveryMethodGetsAConfigItAcceptsWithoutWarnings(string method)
    {
        using var dir = new TempDirectory();
        string path = dir.Combine("c.yml");
        File.WriteAllText(path, BenchMergeConfig.Yaml(method, "/models/base", ["/models/e1", "/models/e2"]));
        var config = MergeConfigReader.Load(path);
        Assert.Empty(config.Warnings);
    }

    [Fact]
    public void UnknownMethodIsAOneLineError()
    {
        var e = Assert.Throws<Core.EngineException>(() => BenchMergeConfig.Yaml("nope", "b", ["e"]));
        Assert.StartsWith("--method 'nope' is not a merge method; choose one of: arcee_fusion, ", e.Message);
    }

    [Fact]
    public void BenchRunsAMethodOtherThanArceeFusionAgainstItsFloor()
    {
        using var dir = new TempDirectory();
        var run = EngineProcess.Run("bench", "merge", "--size", "tiny", "--method", "dare_ties", "--repeat", "1", "--threads", "1", "--json", "--dir", dir.Path);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var report = JsonNode.Parse(run.Stdout)!;
        Assert.Equal("dare_ties", report["method"]!.GetValue<string>());
        Assert.True(report["merge_seconds"]!.GetValue<double>() > 0);
        Assert.True(report["floor_seconds"]!.GetValue<double>() > 0);
    }
}
