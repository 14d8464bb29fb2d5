using System.Globalization;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Pipeline.Planning;
using Engine.Pipeline.Reporting;
using Engine.Pipeline.Running;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary>What <c>engine pipeline</c> shows: the plan (<c>--dry-run</c>), a live view of the steps on a terminal
/// (one line per event when stderr is not one), JSON lines with <c>--json</c>, and the report at the end.</summary>
public static class PipelineView
{
    public static void PrintPlan(PipelinePlan plan, IReadOnlyList<StepStatus> statuses, bool json)
    {
        if (json)
        {
            foreach (var s in statuses)
            {
                Console.Out.WriteLine(new JsonObject
                {
                    ["event"] = "plan", ["step"] = s.Step.Id, ["state"] = s.State, ["key"] = s.Step.Key, ["description"] = s.Step.Describe(),
                    ["depends_on"] = new JsonArray(s.Step.DependsOn.Select(d => (JsonNode)d).ToArray()),
                }.ToJsonString());
            }
            return;
        }
        var table = new Table().AddColumns("step", "state", "key", "what");
        foreach (var s in statuses) table.AddRow(Markup.Escape(s.Step.Id), s.State, s.Step.Key[..12], Markup.Escape(s.Step.Describe()));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"{statuses.Count} steps: {statuses.Count(s => s.Cached)} cached, {statuses.Count(s => !s.Cached)} to run; output {plan.OutputPath} (dry run: nothing was run or written)")));
    }

    /// <summary>Runs <paramref name="run"/> (a run of <paramref name="plan"/> with <paramref name="force"/>) with the
    /// view: JSON lines on stdout (<paramref name="json"/>: first the plan, one line per step as <c>--dry-run --json</c>
    /// prints it, then every event), nothing (<paramref name="quiet"/> without json: another rank), a live table on a
    /// terminal, else plain lines on stderr prefixed <c>engine COMMAND:</c> (<paramref name="command"/>: pipeline or demo).</summary>
    public static void Run(string command, PipelinePlan plan, IReadOnlyList<string> force, bool quiet, bool json, Action<IProgress<PipelineEvent>?> run)
    {
        if (json)
        {
            PrintPlan(plan, PipelineRunner.Status(plan, force), json: true);
            run(new SynchronousProgress<PipelineEvent>(e => Console.Out.WriteLine(PipelineCommand.EventJson(e).ToJsonString())));
            return;
        }
        if (quiet)
        {
            run(null);
            return;
        }
        if (Console.IsErrorRedirected)
        {
            // A log gets every step event, and a step's progress each time it passes another tenth (a merge
            // reports every tensor: hundreds of lines otherwise).
            var shown = new Dictionary<string, int>(StringComparer.Ordinal);
            run(new SynchronousProgress<PipelineEvent>(e =>
            {
                if (e.Kind == PipelineEventKind.Progress)
                {
                    int tenth = (int)Math.Floor((e.Fraction ?? 0) * 10);
                    if (shown.TryGetValue(e.Step, out int last) && last >= tenth) return;
                    shown[e.Step] = tenth;
                }
                Console.Error.WriteLine($"engine {command}: {Line(e)}");
            }));
            return;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        console.Progress().AutoClear(false).HideCompleted(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                run(new SynchronousProgress<PipelineEvent>(e =>
                {
                    if (!tasks.TryGetValue(e.Step, out var task)) tasks[e.Step] = task = ctx.AddTask(Markup.Escape(e.Step), maxValue: 1);
                    task.Description = Markup.Escape(Line(e));
                    if (e.Kind is PipelineEventKind.Cached or PipelineEventKind.Finished) task.Value = 1;
                    else if (e.Fraction is { } f) task.Value = f;
                    if (e.Kind is PipelineEventKind.Cached or PipelineEventKind.Finished) task.StopTask();
                }));
            });
    }

    private static string Line(PipelineEvent e) => e.Kind switch
    {
        PipelineEventKind.Cached => $"{e.Step}: cached",
        PipelineEventKind.Started => $"{e.Step}: {e.Description}",
        PipelineEventKind.Progress => $"{e.Step}: {e.Detail}",
        _ => string.Create(CultureInfo.InvariantCulture, $"{e.Step}: done in {e.Seconds:F1} s{(e.Detail is { Length: > 0 } d ? "; " + d : "")}"),
    };

    /// <summary>The report's table (or, with <paramref name="json"/>, one last line naming the report files).</summary>
    public static void PrintReport(PipelinePlan plan, bool json)
    {
        string md = Path.Combine(plan.OutputPath, PipelineReport.MarkdownFile);
        if (json)
        {
            Console.Out.WriteLine(new JsonObject { ["event"] = "report", ["markdown"] = md, ["json"] = Path.Combine(plan.OutputPath, PipelineReport.JsonFile) }.ToJsonString());
            return;
        }
        var report = PipelineReport.Read(plan.OutputPath);
        var table = new Table().AddColumn("model");
        foreach (var d in report.Domains) table.AddColumn(Markup.Escape(d));
        table.AddColumns("SFT tokens", "SFT wall s", "SFT train s", "merge s");
        var c = CultureInfo.InvariantCulture;
        foreach (var row in report.Rows)
        {
            var cells = row.Cells.Select(x => x.Accuracy is { } a
                ? string.Create(c, $"{a:F3} [{x.AccuracyCi95![0]:F3}, {x.AccuracyCi95[1]:F3}] loss {x.Loss:F3}")
                : string.Create(c, $"loss {x.Loss:F3} [{x.LossCi95[0]:F3}, {x.LossCi95[1]:F3}]"));
            table.AddRow([Markup.Escape(row.Model), .. cells.Select(Markup.Escape), .. PipelineReport.Costs(row)]);
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(Markup.Escape($"report: {md} (and {PipelineReport.JsonFile}, plots/ beside it)"));
    }
}
