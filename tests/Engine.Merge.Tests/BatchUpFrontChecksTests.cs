using Engine.Core.Model;
using Engine.Testing;

namespace Engine.Merge.Tests;

/// <summary>What a batch refuses before its first job runs: a device this machine lacks (named by any job) and outputs
/// nested in each other. Either way nothing is published and no job log is started.</summary>
public sealed class BatchUpFrontChecksTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public BatchUpFrontChecksTests()
    {
        SyntheticCheckpoint.Write(_dir.Combine("base"), SyntheticModelSpec.Tiny, 5, null);
        SyntheticCheckpoint.Write(_dir.Combine("a"), SyntheticModelSpec.Tiny, 5, 1);
        File.WriteAllText(_dir.Combine("linear.yml"), $"merge_method: linear\nmodels:\n  - model: {_dir.Combine("base")}\n    parameters: {{weight: 0.5}}\n  - model: {_dir.Combine("a")}\n    parameters: {{weight: 0.5}}\ndtype: bfloat16\n");
        File.WriteAllText(_dir.Combine("fusion.yml"), $"merge_method: arcee_fusion\nbase_model: {_dir.Combine("base")}\nmodels:\n  - model: {_dir.Combine("a")}\ndtype: bfloat16\n");
    }

    public void Dispose() => _dir.Dispose();

    private static string OneLineError(EngineProcess.Result result)
    {
        Assert.Equal(1, result.ExitCode);
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, result.Stderr);
        Assert.StartsWith("engine: error: ", lines[0]);
        return lines[0];
    }

    [Fact]
    public void ADeviceThisMachineLacksFailsTheBatchBeforeAnyJobRuns()
    {
        // The first pass (cpu) could run; the second names a device that is not here: nothing may be published.
        string jobs = _dir.Combine("jobs.yml");
        File.WriteAllText(jobs, "out_root: out\njobs:\n  - config: linear.yml\n    device: cpu\n  - config: fusion.yml\n    device: \"cpu:1\"\n");
        string error = OneLineError(EngineProcess.Run("merge", jobs));
        Assert.Contains($"{jobs}: jobs[1]: job 'fusion': --device 'cpu:1' is not available here", error);
        Assert.False(Directory.Exists(_dir.Combine("out", "linear")));
        Assert.False(File.Exists(_dir.Combine("out", "batch-log.jsonl")));
    }

    [Theory]
    [InlineData("outer", "outer/inner")]
    [InlineData("outer/inner", "outer")]
    public void OutputsNestedInEachOtherAreRefusedBeforeAnythingIsWritten(string first, string second)
    {
        string jobs = _dir.Combine("jobs.yml");
        File.WriteAllText(jobs, $"out_root: out\njobs:\n  - config: linear.yml\n    out: {first}\n  - config: fusion.yml\n    out: {second}\n");
        string error = OneLineError(EngineProcess.Run("merge", jobs, "--device", "cpu"));
        Assert.Contains($"{jobs}: jobs[1]: output {_dir.Combine("out", second)} of job", error);
        Assert.Contains("is nested with output", error);
        Assert.False(Directory.Exists(_dir.Combine("out")));
    }
}
