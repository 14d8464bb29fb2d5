using static Engine.Pipeline.Tests.JsonEvents;
using Engine.Pipeline.Planning;
using Engine.Pipeline.Reporting;
using Engine.Pipeline.Running;
using Engine.Testing;

namespace Engine.Pipeline.Tests;

/// <summary><c>engine pipeline</c> as a user runs it: --dry-run writes nothing, --json events, one-line errors,
/// and under mpirun the SFT steps on every rank.</summary>
public sealed class PipelineCommandTests
{
    [Fact]
    public void DryRunPrintsThePlanAndWritesNothingThenARunReportsEveryStepAsJson()
    {
        using var x = new TinyExperiment();
        int steps = x.Plan().Steps.Count;
        var dry = EngineProcess.Run("pipeline", x.RecipePath, "--out", x.OutputPath, "--dry-run", "--json");
        Assert.True(dry.ExitCode == 0, dry.Stderr);
        var plan = Lines(dry.Stdout);
        Assert.Equal(steps, plan.Count);
        Assert.All(plan, p => Assert.Equal(("plan", "to run"), (Event(p), p["state"]!.GetValue<string>())));
        Assert.Equal(["sft-math", "sft-words"], plan.Single(p => Step(p) == "merge-mw")["depends_on"]!.AsArray().Select(d => d!.GetValue<string>()));
        Assert.False(Directory.Exists(x.OutputPath));

        var run = EngineProcess.Run("pipeline", x.RecipePath, "--out", x.OutputPath, "--json", "--threads", "1");
        Assert.True(run.ExitCode == 0, run.Stderr);
        var lines = Lines(run.Stdout);
        // The plan first, as --dry-run --json prints it, then the events.
        Assert.Equal(plan.Select(p => p.ToJsonString()), lines.Take(steps).Select(p => p.ToJsonString()));
        var events = lines.Skip(steps).ToList();
        Assert.DoesNotContain(events, e => Event(e) == "plan");
        Assert.Equal(steps, events.Count(e => Event(e) == "finished"));
        Assert.Contains(events, e => Event(e) == "progress" && Step(e) == "sft-math");
        Assert.Equal(Path.Combine(x.OutputPath, PipelineReport.MarkdownFile), events[^1]["markdown"]!.GetValue<string>());

        var again = EngineProcess.Run("pipeline", x.RecipePath, "--out", x.OutputPath, "--dry-run");
        Assert.True(again.ExitCode == 0, again.Stderr);
        Assert.Contains($"{steps} steps: {steps} cached, 0 to run", again.Stdout);
        var table = EngineProcess.Run("pipeline", x.RecipePath, "--out", x.OutputPath);
        Assert.True(table.ExitCode == 0, table.Stderr);
        Assert.Contains("mixture", table.Stdout);
        Assert.Contains("report: ", table.Stdout);
    }

    [Fact]
    public void BadInputIsOneLineNamingTheFileAndTheKey()
    {
        using var x = new TinyExperiment(extraSft: "  warmup: 0.1");
        var bad = EngineProcess.Run("pipeline", x.RecipePath, "--out", x.OutputPath, "--dry-run");
        Assert.Equal(1, bad.ExitCode);
        Assert.Equal($"engine: error: {x.RecipePath}: sft.warmup: unknown SFT setting 'warmup'", bad.Stderr.Trim().Split(" (known:")[0]);
        Assert.Single(bad.Stderr.Trim().Split('\n'));

        using var y = new TinyExperiment();
        var force = EngineProcess.Run("pipeline", y.RecipePath, "--out", y.OutputPath, "--force", "sft-physics", "--dry-run");
        Assert.Equal(1, force.ExitCode);
        Assert.Contains("no step 'sft-physics'", force.Stderr);
        File.Delete(y.Combine("data", "math", "eval.jsonl"));
        var missing = EngineProcess.Run("pipeline", y.RecipePath, "--out", y.OutputPath, "--dry-run");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains(y.Combine("data", "math", "eval.jsonl"), missing.Stderr);
        Assert.False(Directory.Exists(y.OutputPath));
    }

    [Fact]
    public void ABadEvalRowOrMergeFileStopsTheRunBeforeAnyStep()
    {
        using var x = new TinyExperiment(extraMerges: "  - name: custom\n    config: custom.yml");
        string merge = x.Combine("custom.yml");
        File.WriteAllText(merge, "merge_method: linear\nmodels:\n  - model: math\n  - model: wrods\n");
        var badMerge = EngineProcess.Run("pipeline", x.RecipePath, "--out", x.OutputPath, "--threads", "1");
        Assert.Equal(1, badMerge.ExitCode);
        Assert.StartsWith($"engine: error: {merge}:4: merge 'custom': model 'wrods' is not a model of the recipe", badMerge.Stderr.Trim());
        Assert.Single(badMerge.Stderr.Trim().Split('\n'));
        Assert.False(Directory.Exists(x.OutputPath));

        File.WriteAllText(merge, "merge_method: linear\nparameters: {weight: 1.0}\nmodels:\n  - model: math\n  - model: words\n");
        string eval = x.Combine("data", "words", "eval.jsonl");
        File.AppendAllText(eval, "{\"messages\": 3}\n");
        var badEval = EngineProcess.Run("pipeline", x.RecipePath, "--out", x.OutputPath, "--threads", "1");
        Assert.Equal(1, badEval.ExitCode);
        Assert.StartsWith($"engine: error: {eval}:5: ", badEval.Stderr.Trim());
        Assert.Single(badEval.Stderr.Trim().Split('\n'));
        Assert.Equal("", badEval.Stdout);
        Assert.False(Directory.Exists(x.OutputPath));
    }

    [Fact]
    public void AStepThatFailsLeavesNoPartialFolderAndKeepsWhatWasFinished()
    {
        // A directory that exists but holds no model passes the plan and fails the merge step itself.
        using var x = new TinyExperiment(extraMerges: "  - name: custom\n    config: custom.yml");
        Directory.CreateDirectory(x.Combine("models", "empty"));
        File.WriteAllText(x.Combine("custom.yml"), "merge_method: linear\nparameters: {weight: 1.0}\nmodels:\n  - model: math\n  - model: models/empty\n");
        var plan = x.Plan();
        var failed = EngineProcess.Run("pipeline", x.RecipePath, "--out", x.OutputPath, "--threads", "1");
        Assert.Equal(1, failed.ExitCode);
        Assert.Single(failed.Stderr.Trim().Split('\n'), l => l.StartsWith("engine: error: ", StringComparison.Ordinal));
        Assert.Contains(x.Combine("models", "empty"), failed.Stderr);
        Assert.False(Directory.Exists(plan.PartialPath(plan.Step("merge-custom"))));
        Assert.False(Directory.Exists(Path.Combine(plan.StepsPath, ".partial")));
        Assert.All(plan.Steps.OfType<SftStep>(), s => Assert.True(File.Exists(Path.Combine(plan.StepPath(s), StepRecords.FileName)), s.Id));
        Assert.True(File.Exists(Path.Combine(plan.StepPath(plan.Step("merge-mw")), StepRecords.FileName)));
    }

    [Fact]
    public async Task AKilledRunResumesTheSftItWasIn()
    {
        using var x = new TinyExperiment(extraSft: "  save_steps: 1");
        // SIGKILL as soon as the words expert logs its third step: no cleanup runs, as in a crash.
        var killed = EngineProcess.Run(line => line.Contains("sft-words: step 3/8", StringComparison.Ordinal), "pipeline", x.RecipePath, "--out", x.OutputPath, "--threads", "1");
        Assert.NotEqual(0, killed.ExitCode);
        var plan = x.Plan();
        var words = plan.Step("sft-words");
        Assert.False(Directory.Exists(plan.StepPath(words)));
        Assert.False(PipelineReport.IsCurrent(x.OutputPath, plan.Step(PipelinePlan.ReportStepId).Key));

        var resumed = EngineProcess.Run("pipeline", x.RecipePath, "--out", x.OutputPath, "--threads", "1");
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains("sft-math: cached", resumed.Stderr);
        var outcome = StepRecords.Read<SftOutcome>(plan.StepPath(words));
        Assert.InRange(outcome.ResumedFromStep, 2, 7);
        Assert.Equal(8, outcome.Steps);

        using var clean = new TinyExperiment(extraSft: "  save_steps: 1");
        await clean.RunAsync();
        Assert.Equal(File.ReadAllBytes(Path.Combine(clean.Plan().ModelPath("words"), "model.safetensors")),
            File.ReadAllBytes(Path.Combine(plan.ModelPath("words"), "model.safetensors")));
    }

    [RequiresMpiFact]
    public void UnderMpirunTheSftStepsTrainOnEveryRank()
    {
        using var x = new TinyExperiment();
        var run = MpiProcess.Run(2, "pipeline", x.RecipePath, "--out", x.OutputPath, "--json", "--threads", "1");
        Assert.True(run.ExitCode == 0, run.Stderr);
        // Rank 0 alone prints: one finished event per step.
        var plan = PipelinePlan.Create(x.Recipe(), x.OutputPath, ranks: 2);
        Assert.Equal(plan.Steps.Count, Lines(run.Stdout).Count(e => Event(e) == "finished"));
        // Two ranks double the global batch: half the steps of a one-process run, on the same examples.
        var math = (SftStep)plan.Step("sft-math");
        Assert.Equal(4, math.PlannedSteps);
        var outcome = StepRecords.Read<SftOutcome>(plan.StepPath(math));
        Assert.Equal(4, outcome.Steps);
        Assert.Equal(4 + 4, StepRecords.Read<SftOutcome>(plan.StepPath(plan.Step("sft-mixture"))).Steps);
        Assert.True(PipelineReport.IsCurrent(x.OutputPath, plan.Step(PipelinePlan.ReportStepId).Key));
    }
}
