using Engine.Pipeline.Planning;
using Engine.Pipeline.Reporting;
using Engine.Pipeline.Running;

namespace Engine.Pipeline.Tests;

/// <summary>Whole runs of the tiny experiment: the report and plots, the step cache (a second run skips every
/// step), --force, and a run cancelled mid-SFT that resumes from its checkpoint.</summary>
public sealed class PipelineRunTests
{
    private static readonly byte[] PngSignature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    private static List<string> Started(IEnumerable<PipelineEvent> events) =>
        events.Where(e => e.Kind == PipelineEventKind.Started).Select(e => e.Step).ToList();

    [Fact]
    public async Task FullRunWritesTheReportAndASecondRunSkipsEveryStep()
    {
        using var x = new TinyExperiment();
        var plan = x.Plan();
        var first = await x.RunAsync();
        Assert.Equal(plan.Steps.Select(s => s.Id), Started(first));

        var table = PipelineReport.Read(x.OutputPath);
        Assert.Equal(["math", "words"], table.Domains);
        Assert.Equal(["base", "math", "words", "mixture", "mw", "average"], table.Rows.Select(r => r.Model));
        Assert.All(table.Rows, r => Assert.Equal(table.Domains, r.Cells.Select(c => c.Domain)));
        Assert.All(table.Rows.SelectMany(r => r.Cells), c =>
        {
            Assert.Equal(4, c.Rows);
            Assert.InRange(c.Accuracy!.Value, c.AccuracyCi95![0], c.AccuracyCi95[1]);
            Assert.InRange(c.Loss, c.LossCi95[0], c.LossCi95[1]);
            Assert.True(c.Loss > 0);
        });
        var rows = table.Rows.ToDictionary(r => r.Model);
        var outcomes = plan.Steps.OfType<SftStep>().ToDictionary(s => s.Model, s => StepRecords.Read<SftOutcome>(plan.StepPath(s)));
        // No SFT made the base: its SFT figures are absent (shown as '-'), not zero.
        Assert.Equal((null, null, null), (rows["base"].SftTokens, rows["base"].SftWallSeconds, rows["base"].SftTrainSeconds));
        Assert.True(rows["math"].SftTokens > 0 && rows["words"].SftTokens > 0);
        Assert.Equal(rows["math"].SftTokens + rows["words"].SftTokens, rows["mw"].SftTokens);
        Assert.Equal(rows["math"].SftTokens + rows["words"].SftTokens, rows["average"].SftTokens);
        // The SFT wall time is the steps' own wall time (step.json), which includes and exceeds their optimizer steps' time.
        Assert.Equal(outcomes["math"].WallSeconds, rows["math"].SftWallSeconds);
        Assert.Equal(outcomes["math"].WallSeconds + outcomes["words"].WallSeconds, rows["mw"].SftWallSeconds!.Value, 9);
        Assert.All(new[] { "math", "words", "mixture" }, m => Assert.True(rows[m].SftWallSeconds > rows[m].SftTrainSeconds && rows[m].SftTrainSeconds > 0,
            $"{m}: wall {rows[m].SftWallSeconds}, train {rows[m].SftTrainSeconds}"));
        Assert.NotNull(rows["mw"].MergeSeconds);

        // The mixture takes exactly the experts' optimizer steps together.
        Assert.Equal(outcomes["math"].Steps + outcomes["words"].Steps, outcomes["mixture"].Steps);

        string markdown = File.ReadAllText(Path.Combine(x.OutputPath, PipelineReport.MarkdownFile));
        Assert.Contains("| model | math | words | SFT tokens | SFT wall (s) | SFT train (s) | merge wall (s) |", markdown);
        Assert.EndsWith(" | - | - | - | - |", markdown.Split('\n').Single(l => l.StartsWith("| base (base) |", StringComparison.Ordinal)));
        foreach (var model in table.Rows) Assert.Contains($"| {model.Model} (", markdown);
        Assert.Equal(["plots/sft-loss.png", "plots/accuracy.png", "plots/kept-fraction-mw.png"], table.Plots);
        foreach (var plot in table.Plots)
        {
            var bytes = File.ReadAllBytes(Path.Combine(x.OutputPath, plot));
            Assert.Equal(PngSignature, bytes[..8]);
            // IHDR: width and height, big-endian, at bytes 16..23.
            Assert.Equal(900, (bytes[16] << 24) | (bytes[17] << 16) | (bytes[18] << 8) | bytes[19]);
            Assert.True(bytes.Length > 5000, $"{plot} is {bytes.Length} bytes: nothing drawn?");
        }

        var stamps = Directory.GetFileSystemEntries(x.OutputPath, "*", SearchOption.AllDirectories).ToDictionary(p => p, File.GetLastWriteTimeUtc);
        var second = await x.RunAsync();
        Assert.Empty(Started(second));
        Assert.Equal(plan.Steps.Select(s => s.Id), second.Where(e => e.Kind == PipelineEventKind.Cached).Select(e => e.Step));
        Assert.Equal(stamps, Directory.GetFileSystemEntries(x.OutputPath, "*", SearchOption.AllDirectories).ToDictionary(p => p, File.GetLastWriteTimeUtc));
    }

    [Fact]
    public async Task ForceRedoesTheStepAndWhatDependsOnItOnly()
    {
        using var x = new TinyExperiment();
        await x.RunAsync();
        var plan = x.Plan();
        var wordsModel = File.ReadAllBytes(Path.Combine(plan.ModelPath("words"), "model.safetensors"));
        var events = await x.RunAsync(new PipelineRunOptions { Threads = 1, Force = ["sft-math"] });
        var expected = plan.WithDependents("sft-math");
        Assert.Equal(plan.Steps.Select(s => s.Id).Where(expected.Contains), Started(events));
        Assert.Equal(plan.Steps.Select(s => s.Id).Where(id => !expected.Contains(id)), events.Where(e => e.Kind == PipelineEventKind.Cached).Select(e => e.Step));
        // Training is deterministic: the redone expert is the same model, and the untouched one was not rewritten.
        Assert.Equal(wordsModel, File.ReadAllBytes(Path.Combine(plan.ModelPath("words"), "model.safetensors")));
        Assert.True(PipelineReport.IsCurrent(x.OutputPath, plan.Step(PipelinePlan.ReportStepId).Key));

        Assert.Equal(["eval-average-on-math", "report"], Started(await x.RunAsync(new PipelineRunOptions { Threads = 1, Force = ["eval-average-on-math"] })));
    }

    [Fact]
    public async Task StatusBeforeARunTouchesNothing()
    {
        using var x = new TinyExperiment();
        var plan = x.Plan();
        var statuses = PipelineRunner.Status(plan, ["sft-words"]);
        Assert.All(statuses, s => Assert.False(s.Cached));
        Assert.Equal(plan.WithDependents("sft-words").Order(), statuses.Where(s => s.Forced).Select(s => s.Step.Id).Order());
        Assert.False(Directory.Exists(x.OutputPath));
        await Task.CompletedTask;
    }

    [Fact]
    public async Task ACancelledRunResumesTheSftFromItsCheckpointAndKeepsFinishedSteps()
    {
        using var x = new TinyExperiment(extraSft: "  save_steps: 1");
        var plan = x.Plan();
        using var cancel = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => x.RunAsync(cancellation: cancel.Token, onEvent: e =>
        {
            if (e is { Kind: PipelineEventKind.Progress, Step: "sft-words" } && e.Detail!.StartsWith("step 3/", StringComparison.Ordinal)) cancel.Cancel();
        }));
        // Nothing of the cancelled step is published; its checkpoints wait in the partial folder.
        var words = plan.Step("sft-words");
        Assert.False(Directory.Exists(plan.StepPath(words)));
        Assert.True(Directory.Exists(Path.Combine(plan.PartialPath(words), "checkpoint-3")));
        Assert.True(File.Exists(Path.Combine(plan.StepPath(plan.Step("sft-math")), Running.StepRecords.FileName)));

        var events = await x.RunAsync();
        Assert.Equal("sft-words", Started(events)[0]);
        Assert.Contains(events, e => e is { Kind: PipelineEventKind.Cached, Step: "sft-math" });
        var outcome = StepRecords.Read<SftOutcome>(plan.StepPath(words));
        Assert.Equal((3, 8), (outcome.ResumedFromStep, outcome.Steps));
        Assert.Equal(8, File.ReadAllLines(Path.Combine(plan.StepPath(words), Training.Sft.MetricsLog.FileName)).Length);
        Assert.False(Directory.Exists(plan.PartialPath(words)));

        // The resumed expert is bit-identical to one trained without a stop.
        using var clean = new TinyExperiment(extraSft: "  save_steps: 1");
        await clean.RunAsync();
        var cleanPlan = clean.Plan();
        Assert.Equal(File.ReadAllBytes(Path.Combine(cleanPlan.ModelPath("words"), "model.safetensors")),
            File.ReadAllBytes(Path.Combine(plan.ModelPath("words"), "model.safetensors")));
    }
}
