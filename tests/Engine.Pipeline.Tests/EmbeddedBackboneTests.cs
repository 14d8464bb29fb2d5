using System.Globalization;
using static Engine.Pipeline.Tests.JsonEvents;
using System.Text.RegularExpressions;
using Engine.Pipeline.Planning;
using Engine.Pipeline.Reporting;
using Engine.Pipeline.Running;
using Engine.Testing;

namespace Engine.Pipeline.Tests;

/// <summary><c>backbone: embedded:SIZE</c> in a recipe: the plan's first step pre-trains the tiny backbone (at the
/// hidden test size: seconds) into <c>OUT/models/backbone-SIZE-SEED</c>, every later step is keyed on it, a second run
/// reuses it, and a run killed in pre-training resumes.</summary>
public sealed class EmbeddedBackboneTests
{
    /// <summary>The optimizer step of a logged pre-training progress line (<c>engine pipeline: backbone: step N/T ...</c>), else 0.</summary>
    private static int BackboneStepOf(string line) =>
        Regex.Match(line, @"backbone: step (\d+)/") is { Success: true } m ? int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;

    [Fact]
    public void ThePlanPretrainsItFirstAndKeysEveryStepOnIt()
    {
        using var x = new TinyExperiment(backbone: "embedded:test");
        var plan = x.Plan();
        var backbone = Assert.IsType<BackboneStep>(plan.Steps[0]);
        Assert.Equal(PipelinePlan.BackboneStepId, backbone.Id);
        Assert.Equal(Path.Combine(x.OutputPath, "models", "backbone-test-3"), plan.BackbonePath);
        Assert.Equal(plan.BackbonePath, plan.ModelPath("base"));
        Assert.Equal("pre-train the embedded test backbone (seed 3) on the general mixture", backbone.Describe());
        Assert.All(plan.Steps.OfType<SftStep>(), s => Assert.Equal([PipelinePlan.BackboneStepId], s.DependsOn));
        Assert.Equal([PipelinePlan.BackboneStepId], plan.Step("eval-base-on-math").DependsOn);
        // Everything but the backbone itself is redone when it is.
        Assert.Equal(plan.Steps.Select(s => s.Id).Order(), plan.WithDependents(PipelinePlan.BackboneStepId).Order());

        // The key follows the size and the seed: another seed changes the backbone and every SFT.
        using var other = new TinyExperiment(backbone: "embedded:test");
        Assert.Equal(backbone.Key, other.Plan().Steps[0].Key);
        File.WriteAllText(other.RecipePath, File.ReadAllText(other.RecipePath).Replace("seed: 3", "seed: 4"));
        var reseeded = other.Plan();
        Assert.NotEqual(backbone.Key, reseeded.Steps[0].Key);
        Assert.NotEqual(plan.Step("sft-math").Key, reseeded.Step("sft-math").Key);
        Assert.EndsWith("backbone-test-4", reseeded.BackbonePath);
        using var directory = new TinyExperiment();
        Assert.NotEqual(directory.Plan().Step("sft-math").Key, plan.Step("sft-math").Key);

        // Planning (and the dry run's status) writes nothing.
        Assert.All(PipelineRunner.Status(plan, []), s => Assert.False(s.Cached));
        Assert.False(Directory.Exists(x.OutputPath));
    }

    [Fact]
    public void ARunPretrainsItOnceAndASecondRunReusesIt()
    {
        using var x = new TinyExperiment(backbone: "embedded:test");
        var first = EngineProcess.Run("pipeline", x.RecipePath, "--out", x.OutputPath, "--json", "--threads", "1");
        Assert.True(first.ExitCode == 0, first.Stderr);
        var events = Lines(first.Stdout);
        var plan = x.Plan();
        // The plan first (one line per step, the backbone first), then the backbone's pre-training before any other step.
        Assert.Equal(plan.Steps.Select(s => s.Id), events.TakeWhile(e => Event(e) == "plan").Select(Step));
        var run = events.SkipWhile(e => Event(e) == "plan").ToList();
        Assert.Equal(("backbone", "started"), (Step(run[0]), Event(run[0])));
        Assert.Contains(run, e => Step(e) == "backbone" && Event(e) == "progress" && e["detail"]!.GetValue<string>().StartsWith("step 1/", StringComparison.Ordinal));
        int done = run.FindIndex(e => Step(e) == "backbone" && Event(e) == "finished");
        Assert.True(done > 0 && run.Take(done).All(e => Step(e) == "backbone"));
        Assert.True(File.Exists(Path.Combine(plan.BackbonePath, "config.json")));
        Assert.False(Directory.Exists(plan.BackbonePath + ".work"));
        Assert.Equal(["base", "math", "words", "mixture", "mw", "average"], PipelineReport.Read(x.OutputPath).Rows.Select(r => r.Model));

        var stamp = File.GetLastWriteTimeUtc(Path.Combine(plan.BackbonePath, "model.safetensors"));
        var second = EngineProcess.Run("pipeline", x.RecipePath, "--out", x.OutputPath, "--threads", "1");
        Assert.True(second.ExitCode == 0, second.Stderr);
        Assert.Contains("engine pipeline: backbone: cached", second.Stderr);
        Assert.DoesNotContain(": done in ", second.Stderr);
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(Path.Combine(plan.BackbonePath, "model.safetensors")));

        var dry = EngineProcess.Run("pipeline", x.RecipePath, "--out", x.OutputPath, "--dry-run", "--force", "backbone");
        Assert.True(dry.ExitCode == 0, dry.Stderr);
        Assert.Contains($"{plan.Steps.Count} steps: 0 cached, {plan.Steps.Count} to run", dry.Stdout);
    }

    [Fact]
    public void ARunKilledInPretrainingResumesIt()
    {
        using var x = new TinyExperiment(backbone: "embedded:test");
        var plan = x.Plan();
        // SIGKILL once pre-training has saved a checkpoint (every 50 steps): no cleanup runs, as in a crash.
        var killed = EngineProcess.Run(line => BackboneStepOf(line) > 50, "pipeline", x.RecipePath, "--out", x.OutputPath, "--threads", "1");
        Assert.NotEqual(0, killed.ExitCode);
        Assert.False(Directory.Exists(plan.BackbonePath));
        Assert.True(Directory.Exists(plan.BackbonePath + ".work"));

        var resumed = EngineProcess.Run("pipeline", x.RecipePath, "--out", x.OutputPath, "--threads", "1");
        Assert.True(resumed.ExitCode == 0, resumed.Stderr);
        Assert.Contains("engine pipeline: backbone: done in ", resumed.Stderr);
        // It went on from the checkpoint: its first step is past the first 50.
        Assert.True(resumed.Stderr.Split('\n').Select(BackboneStepOf).First(n => n > 0) > 50, resumed.Stderr);
        Assert.True(PipelineReport.IsCurrent(x.OutputPath, plan.Step(PipelinePlan.ReportStepId).Key));
    }
}
