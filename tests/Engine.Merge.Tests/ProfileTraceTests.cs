using System.Text.Json.Nodes;
using Engine.Core.Model;
using Engine.Testing;

namespace Engine.Merge.Tests;

public sealed class ProfileTraceTests
{
    [Fact]
    public void MergeWritesAChromeTraceOfItsStages()
    {
        using var dir = new TempDirectory();
        SyntheticCheckpoint.Write(dir.Combine("b"), SyntheticModelSpec.Tiny, 1, null);
        SyntheticCheckpoint.Write(dir.Combine("p"), SyntheticModelSpec.Tiny with { DType = Engine.Core.DType.F32 }, 1, 2);
        File.WriteAllText(dir.Combine("c.yml"), $"merge_method: arcee_fusion\nbase_model: {dir.Combine("b")}\nmodels:\n  - model: {dir.Combine("p")}\ndtype: bfloat16\n");
        var result = EngineProcess.Run("merge", dir.Combine("c.yml"), "--out", dir.Combine("out"), "--profile", dir.Combine("trace.json"), "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var events = JsonNode.Parse(File.ReadAllText(dir.Combine("trace.json")))!["traceEvents"]!.AsArray();
        var complete = events.Where(e => e!["ph"]!.GetValue<string>() == "X").ToList();
        var categories = complete.Select(e => e!["cat"]!.GetValue<string>()).ToHashSet();
        foreach (var category in new[] { "tensor", "read", "convert", "kernel", "write" }) Assert.Contains(category, categories);
        Assert.All(complete, e => Assert.True(e!["dur"]!.GetValue<double>() >= 0));
        int tensors = SyntheticModelSpec.Tiny.Tensors().Count;
        Assert.Equal(tensors, complete.Count(e => e!["cat"]!.GetValue<string>() == "tensor"));
        Assert.Equal(tensors, complete.Count(e => e!["name"]!.GetValue<string>() == "row_importance"));
    }
}
