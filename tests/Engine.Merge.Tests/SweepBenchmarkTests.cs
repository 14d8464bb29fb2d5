using System.Text.Json.Nodes;
using Engine.Core.Model;
using Engine.Kernels.Cpu;
using Engine.Merge.Batch;
using Engine.Merge.Config;
using Engine.Merge.Execution;
using Engine.Testing;

namespace Engine.Merge.Tests;

/// <summary><c>engine bench merge --sweep N</c>: the batch against one merge, and both sides' I/O floors, which must be
/// what a floor is (the base written unchanged, one output per job) and not another merge.</summary>
public sealed class SweepBenchmarkTests
{
    [Fact]
    public void ABatchRunWithTheFloorMethodWritesTheBaseUnchangedIntoEveryJobsOutput()
    {
        using var dir = new TempDirectory();
        SyntheticCheckpoint.Write(dir.Combine("base"), SyntheticModelSpec.Tiny, 5, null);
        SyntheticCheckpoint.Write(dir.Combine("expert"), SyntheticModelSpec.Tiny, 5, 1);
        string path = dir.Combine("fusion.yml");
        File.WriteAllText(path, $"merge_method: arcee_fusion\nbase_model: {dir.Combine("base")}\nmodels:\n  - model: {dir.Combine("expert")}\ndtype: bfloat16\n");
        var sweep = new ParameterSweep("lambda", ["1.0", "2.0"]);
        string root = dir.Combine("out");
        var jobs = ParameterSweep.Expand(new BatchJob("fusion", MergeConfigReader.Load(path), Path.Combine(root, "fusion")), [sweep]);
        using var kernels = new CpuMergeKernels(1);
        using (var plan = BatchPlan.Create(jobs, new BatchOptions(root) { MethodOverride = _ => new IoFloorMethod() }))
        {
            var result = new BatchExecutor([kernels]).Run(plan);
            Assert.Equal(0, result.Sharing.Importances);
        }

        var expected = TestModels.Read(dir.Combine("base"));
        Assert.Equal(2, jobs.Count);
        foreach (var job in jobs)
        {
            var written = TestModels.Read(job.OutputPath);
            Assert.Equal(expected.Keys.Order(), written.Keys.Order());
            foreach (var (name, values) in expected) Assert.True(values.AsSpan().SequenceEqual(written[name]), $"{job.OutputPath}: {name} is not the base's");
        }
    }

    [Fact]
    public void TheCommandReportsTheBatchTheMergeAndBothFloors()
    {
        using var dir = new TempDirectory();
        var run = EngineProcess.Run("bench", "merge", "--sweep", "3", "--size", "tiny", "--repeat", "1", "--threads", "1", "--device", "cpu", "--json", "--dir", dir.Path);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var report = JsonNode.Parse(run.Stdout)!;
        Assert.Equal([1.0, 1.5, 2.0], report["lambdas"]!.AsArray().Select(l => l!.GetValue<double>()));
        foreach (string key in new[] { "single_seconds", "batch_seconds", "single_floor_seconds", "batch_floor_seconds" })
            Assert.True(report[key]!.GetValue<double>() > 0, key);
        // The seconds are rounded to milliseconds (a tiny run takes a few), the ratios are not: they agree to that rounding.
        void AssertRatio(string ratio, string over, string under)
        {
            double a = report[over]!.GetValue<double>(), b = report[under]!.GetValue<double>();
            double slack = (0.0005 / a + 0.0005 / b) * (a / b) + 0.001;
            Assert.InRange(report[ratio]!.GetValue<double>(), a / b - slack, a / b + slack);
        }
        AssertRatio("batch_floor_over_single_floor", "batch_floor_seconds", "single_floor_seconds");
        AssertRatio("batch_over_batch_floor", "batch_seconds", "batch_floor_seconds");
        AssertRatio("batch_over_single", "batch_seconds", "single_seconds");
        Assert.True(report["importances_reused"]!.GetValue<int>() > 0);
        // Outputs are deleted after each timed run: only the generated pair and the config are left.
        Assert.Equal(["base", "bench-sweep.yml", "expert"], Directory.EnumerateFileSystemEntries(dir.Path).Select(Path.GetFileName).Order());
    }
}
