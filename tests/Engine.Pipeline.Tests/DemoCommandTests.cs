using static Engine.Pipeline.Tests.JsonEvents;
using Engine.Pipeline.Reporting;
using Engine.Testing;

namespace Engine.Pipeline.Tests;

/// <summary><c>engine demo</c> as a user runs it, at the hidden test size (a backbone of a few thousand parameters, a
/// few dozen rows per domain: seconds per run, accuracies meaningless, so nothing here looks at them): the first run
/// pre-trains the backbone and runs every step, the report holds every row and column of Table 2's shape, a second
/// run reuses everything, a run killed in pre-training resumes, and bad input is one line.</summary>
public sealed class DemoCommandTests
{
    private static readonly string[] Models = ["base", "math", "coding", "science", "mixture", "ms-then-c", "mc-then-s", "average"];
    private static readonly string[] Domains = ["math", "coding", "science"];

    [Fact]
    public void FirstRunPretrainsAndRunsEveryStepThenASecondRunReusesThemAll()
    {
        using var dir = new TempDirectory();
        var first = EngineProcess.Run("demo", "--dir", dir.Path, "--size", "test", "--threads", "1", "--json");
        Assert.True(first.ExitCode == 0, first.Stderr);
        var lines = Lines(first.Stdout);
        // The plan first, one line per step, pre-training (step "backbone") first.
        var planned = lines.TakeWhile(e => Event(e) == "plan").ToList();
        Assert.Equal("backbone", Step(planned[0]));
        Assert.All(planned, e => Assert.Equal("to run", e["state"]!.GetValue<string>()));
        var events = lines.Skip(planned.Count).ToList();

        // Pre-training shows its progress as step "backbone", before any other step starts.
        Assert.Equal(("backbone", "started"), (Step(events[0]), Event(events[0])));
        Assert.Contains(events, e => Step(e) == "backbone" && Event(e) == "progress" && e["detail"]!.GetValue<string>().StartsWith("step 1/", StringComparison.Ordinal));
        int backboneDone = events.FindIndex(e => Step(e) == "backbone" && Event(e) == "finished");
        Assert.True(backboneDone > 0 && events.Skip(backboneDone + 1).All(e => Event(e) == "report" || Step(e) != "backbone"));
        Assert.DoesNotContain(events, e => Event(e) == "cached");
        string runPath = dir.Combine("test-1234");
        Assert.Equal(Path.Combine(runPath, PipelineReport.MarkdownFile), events[^1]["markdown"]!.GetValue<string>());
        Assert.True(File.Exists(Path.Combine(runPath, "models", "backbone-test-1234", "config.json")));
        Assert.True(File.Exists(Path.Combine(runPath, "recipe.yml")));

        // Every model of Table 2's shape, in plan order, each evaluated on every domain.
        var report = PipelineReport.Read(runPath);
        Assert.Equal(Domains, report.Domains);
        Assert.Equal(Models, report.Rows.Select(r => r.Model));
        Assert.All(report.Rows, r =>
        {
            Assert.Equal(Domains, r.Cells.Select(c => c.Domain));
            Assert.All(r.Cells, c => Assert.True(c.Accuracy is >= 0 and <= 1 && c.AccuracyCi95 is [var low, var high] && low <= c.Accuracy && c.Accuracy <= high && c.Rows > 0,
                $"{r.Model} on {c.Domain}: accuracy {c.Accuracy} [{string.Join(", ", c.AccuracyCi95 ?? [])}]"));
        });
        Assert.All(report.Plots, p => Assert.True(File.Exists(Path.Combine(runPath, p)), p));
        string markdown = File.ReadAllText(Path.Combine(runPath, PipelineReport.MarkdownFile));
        Assert.All(Models, m => Assert.Contains(m, markdown));

        // A second run, as a user sees it: every step (the backbone included) reused, the table and where the report is.
        var second = EngineProcess.Run("demo", "--dir", dir.Path, "--size", "test", "--threads", "1");
        Assert.True(second.ExitCode == 0, second.Stderr);
        Assert.Contains("engine demo: backbone: cached", second.Stderr);
        Assert.DoesNotContain(": done in ", second.Stderr);
        var tableLines = second.Stdout.Split('\n');
        Assert.All(Models, m => Assert.Single(tableLines, l => l.StartsWith($"│ {m} ", StringComparison.Ordinal)));
        Assert.Contains($"report: {Path.Combine(runPath, PipelineReport.MarkdownFile)} (and {PipelineReport.JsonFile}, plots/ beside it)", second.Stdout);

        // The demo's recipe is an engine pipeline recipe whose every step (the backbone's included) is the demo's.
        var pipeline = EngineProcess.Run("pipeline", Path.Combine(runPath, "recipe.yml"), "--out", runPath, "--dry-run");
        Assert.True(pipeline.ExitCode == 0, pipeline.Stderr);
        Assert.Contains($"{planned.Count} steps: {planned.Count} cached, 0 to run", pipeline.Stdout);

        var third = EngineProcess.Run("demo", "--dir", dir.Path, "--size", "test", "--json");
        Assert.True(third.ExitCode == 0, third.Stderr);
        var again = Lines(third.Stdout).SkipWhile(e => Event(e) == "plan").ToList();
        Assert.Equal(planned.Count, events.Count(e => Event(e) == "finished"));
        Assert.Equal(planned.Count, again.Count(e => Event(e) == "cached"));
        Assert.All(again.SkipLast(1), e => Assert.Equal("cached", Event(e)));
    }

    [Fact]
    public void ARunKilledInPretrainingLeavesNoBackboneAndTheNextRunFinishes()
    {
        using var dir = new TempDirectory();
        // SIGKILL at the first logged pre-training step: no cleanup runs, as in a crash.
        var killed = EngineProcess.Run(line => line.Contains("backbone: step 1/", StringComparison.Ordinal), "demo", "--dir", dir.Path, "--size", "test", "--threads", "1");
        Assert.NotEqual(0, killed.ExitCode);
        Assert.False(Directory.Exists(dir.Combine("test-1234", "models", "backbone-test-1234")));

        var rerun = EngineProcess.Run("demo", "--dir", dir.Path, "--size", "test", "--threads", "1");
        Assert.True(rerun.ExitCode == 0, rerun.Stderr);
        Assert.Contains("engine demo: backbone: done in ", rerun.Stderr);
        Assert.Equal(Models, PipelineReport.Read(dir.Combine("test-1234")).Rows.Select(r => r.Model));
    }

    [Fact]
    public void BadInputIsOneLineAndWritesNothing()
    {
        using var dir = new TempDirectory();
        var size = EngineProcess.Run("demo", "--dir", dir.Combine("demo"), "--size", "large");
        Assert.Equal(1, size.ExitCode);
        Assert.Equal("engine: error: --size: experiment size must be default or small, got 'large'", size.Stderr.Trim());
        Assert.False(Directory.Exists(dir.Combine("demo")));

        string file = dir.Combine("a-file");
        File.WriteAllText(file, "not a directory");
        var notADirectory = EngineProcess.Run("demo", "--dir", file, "--size", "test");
        Assert.Equal(1, notADirectory.ExitCode);
        Assert.Equal($"engine: error: {file}: --dir names a file; give a directory (created if missing)", notADirectory.Stderr.Trim());
        Assert.Equal("not a directory", File.ReadAllText(file));

        var threads = EngineProcess.Run("demo", "--dir", dir.Combine("demo"), "--size", "test", "--threads", "-2");
        Assert.Equal(1, threads.ExitCode);
        Assert.Single(threads.Stderr.Trim().Split('\n'));
        Assert.Contains("--threads", threads.Stderr);
        Assert.False(Directory.Exists(dir.Combine("demo")));
    }
}
