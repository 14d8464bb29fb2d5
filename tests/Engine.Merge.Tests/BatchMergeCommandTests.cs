using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Engine.Testing;

namespace Engine.Merge.Tests;

/// <summary><c>engine merge</c> batches as a user runs them: the plan, <c>--json</c> events, one-line errors, and a
/// batch killed outright (SIGKILL) mid-way, then resumed.</summary>
public sealed class BatchMergeCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public BatchMergeCommandTests()
    {
        SyntheticCheckpoint.Write(_dir.Combine("base"), SyntheticModelSpec.Tiny, 5, null);
        SyntheticCheckpoint.Write(_dir.Combine("a"), SyntheticModelSpec.Tiny, 5, 1);
    }

    public void Dispose() => _dir.Dispose();

    private string Config(string name, string baseModel = "base", string other = "a", string folder = "")
    {
        string path = Path.Combine(_dir.Combine(folder), name + ".yml");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, $"merge_method: arcee_fusion\nbase_model: {_dir.Combine(baseModel)}\nmodels:\n  - model: {_dir.Combine(other)}\ndtype: bfloat16\n");
        return path;
    }

    private static void AssertOneLineError(EngineProcess.Result result, string fragment)
    {
        Assert.Equal(1, result.ExitCode);
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("engine: error: ", lines[0]);
        Assert.Contains(fragment, lines[0]);
    }

    [Fact]
    public void JsonPrintsThePlanThenOneEventPerLine()
    {
        string root = _dir.Combine("out");
        var result = EngineProcess.Run("merge", Config("f"), "--sweep", "lambda=1.0,2.0", "--out-root", root, "--device", "cpu", "--json");
        Assert.Equal(0, result.ExitCode);
        var events = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal("plan", events[0]["event"]!.GetValue<string>());
        Assert.Equal(["f-lambda-1.0", "f-lambda-2.0"], events[0]["jobs"]!.AsArray().Select(j => j!["job"]!.GetValue<string>()));
        var tensors = events.Where(e => e["event"]!.GetValue<string>() == "tensor").ToList();
        Assert.Equal(2 * 26, tensors.Count);
        Assert.All(tensors, t =>
        {
            Assert.NotNull(t["job"]);
            Assert.NotNull(t["tensor"]);
            Assert.True(t["bytes"]!.GetValue<long>() > 0);
            Assert.True(t["seconds"]!.GetValue<double>() >= 0);
        });
        Assert.Equal(2, events.Count(e => e["event"]!.GetValue<string>() == "job" && e["status"]!.GetValue<string>() == "finished"));
        Assert.Equal("done", events[^1]["event"]!.GetValue<string>());
        Assert.True(Directory.Exists(Path.Combine(root, "f-lambda-1.0")));
    }

    [Fact]
    public void DryRunPrintsThePlanAndWritesNothing()
    {
        string root = _dir.Combine("out");
        var result = EngineProcess.Run("merge", Config("f"), Config("g"), "--out-root", root, "--dry-run");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("batch: 2 jobs", result.Stdout);
        Assert.Contains($"{root}/f", result.Stdout);
        Assert.Contains("once, for", result.Stdout);
        Assert.False(Directory.Exists(root));
    }

    [Fact]
    public void BadBatchCommandLinesAreOneLineErrors()
    {
        string root = _dir.Combine("out");
        AssertOneLineError(EngineProcess.Run("merge", Config("f"), Config("g")), "needs --out-root DIR");
        AssertOneLineError(EngineProcess.Run("merge", Config("f"), Config("g"), "--out", root), "--out names the output of one merge");
        AssertOneLineError(EngineProcess.Run("merge", Config("f"), Config("f", folder: "other"), "--out-root", root), "job name 'f'");
        AssertOneLineError(EngineProcess.Run("merge", Config("f"), "--sweep", "lambda=1,1.0", "--out-root", root), "given twice");
        AssertOneLineError(EngineProcess.Run("merge", Config("f"), Config("g"), "--out-root", root, "--profile", "t.json"), "--profile apply to one merge");
        Assert.False(Directory.Exists(root));
    }

    [Theory]
    [InlineData("")]
    [InlineData("--dry-run")]
    [InlineData("--out")]
    public void AJobFileThatIsNotValidYamlIsReportedAsSuchNotAsAMissingOut(string option)
    {
        // Neither a job file nor a config can be told from a file that does not parse: its YAML error is the one
        // to report, whatever the rest of the command line would have needed.
        Config("linear");
        string jobs = _dir.Combine("jobs.yml");
        File.WriteAllText(jobs, "jobs:\n  - config: [linear.yml\n");
        string[] extra = option switch { "" => [], "--out" => ["--out", _dir.Combine("o")], _ => [option] };
        var result = EngineProcess.Run(["merge", jobs, .. extra]);
        AssertOneLineError(result, $"engine: error: {jobs}: invalid YAML at line 3");
        Assert.DoesNotContain("--out", result.Stderr);
        Assert.False(Directory.Exists(_dir.Combine("o")));
    }

    [Fact]
    public void BatchKilledMidWayResumesWithoutRedoingFinishedJobsOrTrustingTheUnfinishedOne()
    {
        // Two passes (no model in common): 'small' over the tiny models, then 'big' over models large enough that
        // the kill, sent as soon as 'small' is published, lands while 'big' is being computed.
        // 'big' is 64 tensors of 1M elements (seconds of work on two cores), so that a test process slowed by a
        // loaded machine still kills it mid-way.
        var random = new Random(11);
        var shapes = Enumerable.Range(0, 64).Select(i => ($"layer{i:D2}.weight", new long[] { 1024, 1024 })).ToArray();
        var values = Enumerable.Range(0, 7).Select(_ => TestModels.RandomValues(random, 1024 * 1024)).ToArray();
        TestModels.Write(_dir.Combine("p"), DType.BF16, shapes.Select((s, i) => (s.Item1, s.Item2, values[i % 7])));
        TestModels.Write(_dir.Combine("q"), DType.BF16, shapes.Select((s, i) => (s.Item1, s.Item2, values[(i + 3) % 7])));
        string small = Config("small"), big = Config("big", "p", "q");
        string root = _dir.Combine("out");

        var killed = EngineProcess.Run(line => line.Contains("job 'small' finished", StringComparison.Ordinal),
            "merge", small, big, "--out-root", root, "--device", "cpu");
        Assert.NotEqual(0, killed.ExitCode);
        Assert.True(File.Exists(Path.Combine(root, "small", "model.safetensors")));
        Assert.False(Directory.Exists(Path.Combine(root, "big")), "the unfinished job must not appear");
        string log = File.ReadAllText(Path.Combine(root, Batch.BatchLog.FileName));
        Assert.Contains("\"job_finished\",\"job\":\"small\"", log);
        Assert.DoesNotContain("\"job_finished\",\"job\":\"big\"", log);
        var smallWritten = File.GetLastWriteTimeUtc(Path.Combine(root, "small", "model.safetensors"));

        var resumed = EngineProcess.Run("merge", small, big, "--out-root", root, "--device", "cpu", "--resume");
        Assert.Equal(0, resumed.ExitCode);
        Assert.Contains("job 'small' finished earlier", resumed.Stderr);
        Assert.Contains("job 'big' finished in", resumed.Stderr);
        Assert.Equal(smallWritten, File.GetLastWriteTimeUtc(Path.Combine(root, "small", "model.safetensors")));
        // No staging directory of the killed run is left, and 'big' is the model its config makes alone.
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(root), e => Path.GetFileName(e).Contains(".partial-", StringComparison.Ordinal));
        // The kill left every job's lock file; the resumed run claimed each output, the skipped one too, and removed them.
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(root), e => Path.GetFileName(e).EndsWith(".lock", StringComparison.Ordinal));
        var alone = EngineProcess.Run("merge", big, "--out", _dir.Combine("big-alone"), "--device", "cpu");
        Assert.Equal(0, alone.ExitCode);
        Assert.True(File.ReadAllBytes(_dir.Combine("big-alone/model.safetensors")).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(root, "big", "model.safetensors"))));
    }
}
