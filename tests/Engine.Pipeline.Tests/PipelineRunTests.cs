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
        Assert.Equal(0, rows["base"].SftTokens);
        Assert.True(rows["math"].SftTokens > 0 && rows["words"].SftTokens > 0);
        Assert.Equal(rows["math"].SftTokens + rows["words"].SftTokens, rows["mw"].SftTokens);
        Assert.Equal(rows["math"].SftTokens + rows["words"].SftTokens, rows["average"].SftTokens);
        Assert.NotNull(rows["mw"].MergeSeconds);

        // The mixture takes exactly the experts' optimizer steps together.
        var outcomes = plan.Steps.OfType<SftStep>().ToDictionary(s => s.Model, s => StepRecords.Read<SftOutcome>(plan.StepPath(s)));
        Assert.Equal(outcomes["math"].Steps + outcomes["words"].Steps, outcomes["mixture"].Steps);

        string markdown = File.ReadAllText(Path.Combine(x.OutputPath, PipelineReport.MarkdownFile));
        Assert.Contains("| model | math | words | SFT tokens | SFT time (s) | merge time (s) |", markdown);
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
}
