using System.Text.RegularExpressions;
using Engine.Merge.Execution;
using Engine.Pipeline.Planning;
using Engine.Training.Sft;
using ScottPlot;

namespace Engine.Pipeline.Reporting;

/// <summary>The report's PNG plots (ScottPlot, rendered headless through SkiaSharp): the loss curve of every SFT
/// (from its metrics.jsonl), accuracy per domain per model as grouped bars with their 95% intervals (held-out loss
/// under the loss metric), and the kept fraction per layer of every Arcee Fusion stage (from the merge reports).</summary>
public static partial class ReportPlots
{
    private const int Width = 900, Height = 520;

    /// <summary>Draws every plot into <paramref name="folder"/>; returns their paths.</summary>
    public static IReadOnlyList<string> Draw(PipelinePlan plan, IReadOnlyList<ReportRow> rows, string folder)
    {
        Directory.CreateDirectory(folder);
        var written = new List<string> { LossCurves(plan, Path.Combine(folder, "sft-loss.png")), Scores(plan, rows, Path.Combine(folder, "accuracy.png")) };
        foreach (var step in plan.Steps.OfType<MergeStep>())
        {
            var report = MergeReport.Read(Path.Combine(plan.StepPath(step), "model"));
            if (report.Stages.Any(s => s.Method == "arcee_fusion"))
                written.Add(KeptFraction(step.Model, report, ModelNames(plan), Path.Combine(folder, $"kept-fraction-{step.Model}.png")));
        }
        return written;
    }

    private static string LossCurves(PipelinePlan plan, string path)
    {
        var plot = new Plot();
        foreach (var step in plan.Steps.OfType<SftStep>())
        {
            var points = File.ReadLines(Path.Combine(plan.StepPath(step), MetricsLog.FileName))
                .Select(l => System.Text.Json.Nodes.JsonNode.Parse(l)!)
                .Where(m => m["loss"] is not null)
                .Select(m => (Step: m["step"]!.GetValue<double>(), Loss: m["loss"]!.GetValue<double>()))
                .ToList();
            var line = plot.Add.Scatter(points.Select(p => p.Step).ToArray(), points.Select(p => p.Loss).ToArray());
            line.LegendText = step.Model;
        }
        plot.Title("SFT training loss");
        plot.XLabel("optimizer step");
        plot.YLabel("mean token loss");
        plot.ShowLegend();
        plot.SavePng(path, Width, Height);
        return path;
    }

    private static string Scores(PipelinePlan plan, IReadOnlyList<ReportRow> rows, string path)
    {
        bool accuracy = plan.Recipe.Eval.Metric == Training.Evaluation.EvalMetric.ExactMatch;
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int domains = plan.Recipe.Domains.Count;
        var bars = new List<Bar>();
        for (int r = 0; r < rows.Count; r++)
        {
            for (int d = 0; d < domains; d++)
            {
                var cell = rows[r].Cells[d];
                double value = accuracy ? cell.Accuracy ?? 0 : cell.Loss;
                double[] ci = accuracy ? cell.AccuracyCi95 ?? [value, value] : cell.LossCi95;
                bars.Add(new Bar
                {
                    Position = r * (domains + 1) + d,
                    Value = value,
                    // The interval may be asymmetric; the bar shows its larger half so that it is never understated.
                    Error = Math.Max(value - ci[0], ci[1] - value),
                    FillColor = palette.GetColor(d),
                });
            }
        }
        plot.Add.Bars(bars);
        for (int d = 0; d < domains; d++) plot.Legend.ManualItems.Add(new LegendItem { LabelText = plan.Recipe.Domains[d].Name, FillColor = palette.GetColor(d) });
        var ticks = rows.Select((row, r) => new Tick(r * (domains + 1) + (domains - 1) / 2.0, row.Model)).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        plot.Axes.Margins(bottom: 0);
        if (accuracy) plot.Axes.SetLimitsY(0, 1.05);
        plot.Title(accuracy ? "Exact-match accuracy per domain (95% interval)" : "Held-out loss per domain (95% interval)");
        plot.YLabel(accuracy ? "accuracy" : "mean token loss");
        // Outside the data area: inside, it hid the last model's bars.
        plot.ShowLegend(Edge.Right);
        plot.SavePng(path, Width, Height);
        return path;
    }

    /// <summary>The merge configs name models by their directories: the plot names them as the report rows do.</summary>
    private static Dictionary<string, string> ModelNames(PipelinePlan plan) =>
        plan.Models.ToDictionary(m => Path.GetFullPath(plan.ModelPath(m.Name)), m => m.Name, StringComparer.Ordinal);

    private static string KeptFraction(string model, MergeReport report, Dictionary<string, string> names, string path)
    {
        var plot = new Plot();
        foreach (var stage in report.Stages.Where(s => s.Method == "arcee_fusion"))
        {
            var perLayer = report.Tensors
                .Select(t => (Layer: LayerOf(t.Name), Stage: t.Stages.FirstOrDefault(s => s.Stage == stage.Name)))
                .Where(x => x.Layer >= 0 && x.Stage is { Kept: not null, Elements: > 0 })
                .GroupBy(x => x.Layer)
                .OrderBy(g => g.Key)
                .Select(g => (Layer: (double)g.Key, Fraction: (double)g.Sum(x => x.Stage!.Kept!.Value) / g.Sum(x => x.Stage!.Elements!.Value)))
                .ToList();
            if (perLayer.Count == 0) continue;
            var line = plot.Add.Scatter(perLayer.Select(p => p.Layer).ToArray(), perLayer.Select(p => p.Fraction).ToArray());
            string Name(string? label) => label is null ? "-" : names.GetValueOrDefault(Path.GetFullPath(label), label);
            line.LegendText = $"{(stage.Name == "output" ? "last stage" : stage.Name)}: {string.Join(", ", stage.Models.Select(Name))} into {Name(stage.Base)}";
        }
        plot.Title($"{model}: fraction of elements taken from the other model, per layer");
        plot.XLabel("layer");
        plot.YLabel("kept fraction");
        plot.ShowLegend();
        plot.SavePng(path, Width, Height);
        return path;
    }

    private static int LayerOf(string tensor) => LayerPattern().Match(tensor) is { Success: true } m ? int.Parse(m.Groups[1].Value) : -1;

    [GeneratedRegex(@"\.layers\.(\d+)\.")]
    private static partial Regex LayerPattern();
}
