using System.Globalization;
using System.Text;
using System.Text.Json;
using Engine.Pipeline.Planning;
using Engine.Pipeline.Running;
using Engine.Training.Evaluation;

namespace Engine.Pipeline.Reporting;

/// <summary>Writes <c>OUT/report.md</c>, <c>OUT/report.json</c> and <c>OUT/plots/*.png</c> from the finished steps.
/// report.json is written last and carries the report step's key: a report is current when that key matches.</summary>
public static class PipelineReport
{
    /// <summary>The machine-readable report under the output folder, written last; it carries the report step's key.</summary>
    public const string JsonFile = "report.json";

    /// <summary>The report table under the output folder.</summary>
    public const string MarkdownFile = "report.md";


    private static JsonSerializerOptions Json => StepRecords.Json;

    /// <summary>Whether <paramref name="outputPath"/> holds a complete report for <paramref name="key"/>.</summary>
    public static bool IsCurrent(string outputPath, string key)
    {
        string path = Path.Combine(outputPath, JsonFile);
        if (!File.Exists(path) || !File.Exists(Path.Combine(outputPath, MarkdownFile))) return false;
        try
        {
            return JsonSerializer.Deserialize<ReportTable>(File.ReadAllText(path), Json)?.Key == key;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>Reads a report written by <see cref="Write"/>.</summary>
    public static ReportTable Read(string outputPath) =>
        JsonSerializer.Deserialize<ReportTable>(File.ReadAllText(Path.Combine(outputPath, JsonFile)), Json)!;

    /// <summary>Builds the table from the finished steps of <paramref name="plan"/>, draws the plots, writes the files.</summary>
    public static (ReportTable Table, string Summary) Write(PipelinePlan plan, string key)
    {
        var recipe = plan.Recipe;
        var sftOutcomes = plan.Steps.OfType<SftStep>().ToDictionary(s => s.Model, s => StepRecords.Read<SftOutcome>(plan.StepPath(s)));
        var rows = new List<ReportRow>();
        foreach (var model in plan.Models)
        {
            var trainedBy = model.Role switch
            {
                ModelRole.Expert or ModelRole.Mixture => [model.Name],
                ModelRole.Merge or ModelRole.Average => ((MergeStep)plan.Step(model.StepId!)).Inputs,
                _ => (IReadOnlyList<string>)[],
            };
            var sfts = trainedBy.Where(sftOutcomes.ContainsKey).Select(n => sftOutcomes[n]).ToList();
            double? mergeSeconds = model.StepId is { } id && plan.Step(id) is MergeStep m ? StepRecords.Read<MergeOutcome>(plan.StepPath(m)).WallSeconds : null;
            var cells = recipe.Domains.Select(d =>
            {
                var e = StepRecords.Read<EvalOutcome>(plan.StepPath(plan.Step($"eval-{model.Name}-on-{d.Name}")));
                return new ReportCell(d.Name, e.Rows, e.Accuracy, e.AccuracyCi95, e.Loss, e.LossCi95);
            }).ToList();
            rows.Add(sfts.Count == 0
                ? new ReportRow(model.Name, model.Role, null, null, null, mergeSeconds, cells)
                : new ReportRow(model.Name, model.Role, sfts.Sum(s => s.Tokens), sfts.Sum(s => s.WallSeconds), sfts.Sum(s => s.TrainSeconds), mergeSeconds, cells));
        }

        Directory.CreateDirectory(plan.OutputPath);
        string metric = recipe.Eval.Metric == EvalMetric.ExactMatch ? "exact_match" : "loss";
        var plots = ReportPlots.Draw(plan, rows, Path.Combine(plan.OutputPath, "plots"));
        var table = new ReportTable(key, recipe.Name, recipe.Path, metric, recipe.Eval.MaxNewTokens, recipe.Domains.Select(d => d.Name).ToList(), rows,
            plots.Select(p => Path.GetRelativePath(plan.OutputPath, p).Replace('\\', '/')).ToList());
        File.WriteAllText(Path.Combine(plan.OutputPath, MarkdownFile), Markdown(table));
        // Last: its key marks the report complete.
        File.WriteAllText(Path.Combine(plan.OutputPath, JsonFile), JsonSerializer.Serialize(table, Json));
        return (table, $"{rows.Count} models x {recipe.Domains.Count} domains, {plots.Count} plots");
    }

    /// <summary>A row's SFT tokens, SFT wall and train seconds and merge seconds as table cells (<c>-</c> where it has none),
    /// for report.md and the table the CLI prints.</summary>
    public static IReadOnlyList<string> Costs(ReportRow row)
    {
        var c = CultureInfo.InvariantCulture;
        static string Or(string? value) => value ?? "-";
        return [Or(row.SftTokens?.ToString(c)), Or(row.SftWallSeconds?.ToString("F1", c)), Or(row.SftTrainSeconds?.ToString("F1", c)), Or(row.MergeSeconds?.ToString("F1", c))];
    }

    /// <summary>The table as Markdown: cells <c>accuracy [low, high] · loss L</c> (loss metric: <c>loss L [low, high]</c>).</summary>
    public static string Markdown(ReportTable table)
    {
        var text = new StringBuilder();
        var c = CultureInfo.InvariantCulture;
        text.Append(c, $"# {table.Name}: Branch-Merge results\n\n");
        text.Append(c, $"Recipe: `{table.Recipe}`. ");
        text.Append(table.Metric == "exact_match"
            ? string.Create(c, $"Cells: exact-match accuracy on each domain's held-out file (greedy decoding, at most {table.MaxNewTokens} new tokens) with its 95% bootstrap interval, then the held-out loss (mean token loss on the reference answers).\n\n")
            : "Cells: held-out loss (mean token loss on the reference answers) with its 95% bootstrap interval.\n\n");
        text.Append("| model | ").Append(string.Join(" | ", table.Domains)).Append(" | SFT tokens | SFT wall (s) | SFT train (s) | merge wall (s) |\n");
        text.Append("|---|").Append(string.Concat(table.Domains.Select(_ => "---|"))).Append("---:|---:|---:|---:|\n");
        foreach (var row in table.Rows)
        {
            text.Append(c, $"| {row.Model} ({row.Role.ToString().ToLowerInvariant()}) | ");
            foreach (var cell in row.Cells)
            {
                text.Append(cell.Accuracy is { } a
                    ? string.Create(c, $"{a:F3} [{cell.AccuracyCi95![0]:F3}, {cell.AccuracyCi95[1]:F3}] · loss {cell.Loss:F3}")
                    : string.Create(c, $"loss {cell.Loss:F3} [{cell.LossCi95[0]:F3}, {cell.LossCi95[1]:F3}]"));
                text.Append(" | ");
            }
            text.Append(string.Join(" | ", Costs(row))).Append(" |\n");
        }
        text.Append(c, $"\nRows per domain: {string.Join(", ", table.Rows.FirstOrDefault()?.Cells.Select(x => $"{x.Domain} {x.Rows}") ?? [])}. ");
        text.Append("SFT tokens and times: of the SFT runs that made the model (a merge counts its experts'; `-`: none, the backbone as it is). ");
        text.Append("SFT wall: the SFT steps' wall time (data and model loading, training, checkpoints; a resumed SFT: the attempt that finished it); ");
        text.Append("SFT train: the optimizer steps' time alone. Merge wall: the merge step's wall time.\n\n");
        foreach (var plot in table.Plots) text.Append(c, $"![{Path.GetFileNameWithoutExtension(plot)}]({plot})\n\n");
        return text.ToString();
    }
}
