using System.Text.Json.Nodes;
using Engine.Core.Diagnostics;
using Engine.Testing;

namespace Engine.Core.Tests;

/// <summary><see cref="ProfileTrace.Add"/>: spans timed by another clock (a GPU's events) land on their own named
/// track, at the times given, beside the spans the trace timed itself.</summary>
public sealed class ProfileTraceAddTests
{
    [Fact]
    public void SpansTimedElsewhereGoOnTheirOwnNamedTrackAtTheGivenTimes()
    {
        var trace = new ProfileTrace();
        using (trace.Begin("step", "step")) { }
        trace.Add("gemm_bf16", "op", "cuda:0 ops", 1_000, 2_500, "layer 3, forward");
        trace.Add("add_kernel", "op", "cuda:0 ops", 3_500, 500);
        trace.Add("adamw", "op", "cpu ops", 0, 10);
        Assert.Throws<ArgumentOutOfRangeException>(() => trace.Add("bad", "op", "cpu ops", 0, -1));

        var events = trace.Events();
        var gemm = events.Single(e => e.Name == "gemm_bf16");
        Assert.Equal((1_000L, 2_500L, "layer 3, forward"), (gemm.StartNanoseconds, gemm.DurationNanoseconds, gemm.Detail));
        Assert.Equal(gemm.Thread, events.Single(e => e.Name == "add_kernel").Thread);
        Assert.NotEqual(gemm.Thread, events.Single(e => e.Name == "adamw").Thread);
        Assert.NotEqual(gemm.Thread, events.Single(e => e.Name == "step").Thread);

        using var temp = new TempDirectory();
        string path = temp.Combine("trace.json");
        trace.Write(path);
        var written = JsonNode.Parse(File.ReadAllText(path))!["traceEvents"]!.AsArray();
        var track = written.Single(e => (string?)e!["ph"] == "M" && (string?)e["args"]!["name"] == "cuda:0 ops")!;
        var op = written.Single(e => (string?)e!["name"] == "gemm_bf16")!;
        Assert.Equal((int)track["tid"]!, (int)op["tid"]!);
        Assert.Equal(1.0, (double)op["ts"]!);
        Assert.Equal(2.5, (double)op["dur"]!);
    }
}
