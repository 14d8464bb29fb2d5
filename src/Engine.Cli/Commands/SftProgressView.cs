using System.Globalization;
using Engine.Training.Sft;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Engine.Cli.Commands;

/// <summary>Training progress on stderr. A terminal gets a live bar (step, bar, percentage, then loss, lr,
/// tokens/s and ETA); anything else (a pipe, a file, CI) gets one plain <see cref="Line"/> per step, written
/// whole, so logs stay parseable. Nothing else writes to stderr while training runs.</summary>
public static class SftProgressView
{
    /// <summary>Runs <paramref name="train"/> with the view for this stderr.</summary>
    public static SftResult Run(Func<IProgress<SftStepMetrics>, SftResult> train)
    {
        if (Console.IsErrorRedirected) return train(new Lines());
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        var stats = new StatsColumn();
        return console.Progress().AutoClear(false).HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), stats)
            .Start(ctx => train(new Bar(ctx.AddTask("starting", maxValue: 1), stats)));
    }

    /// <summary>The plain per-step line: <c>step S/T  loss L  lr R  grad_norm G  N tok/s  eta H:MM:SS</c>.</summary>
    public static string Line(SftStepMetrics m) => string.Create(CultureInfo.InvariantCulture,
        $"step {m.Step}/{m.TotalSteps}  {Stats(m, gradNorm: true)}");

    private static string Stats(SftStepMetrics m, bool gradNorm) => string.Create(CultureInfo.InvariantCulture,
        $"loss {m.Loss:F4}  lr {m.Lr:E2}  {(gradNorm ? $"grad_norm {m.GradNorm:F3}  " : "")}{m.TokensPerSecond:F0} tok/s  eta {Duration(m.Remaining)}");

    /// <summary>H:MM:SS, hours unbounded.</summary>
    public static string Duration(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{(long)t.TotalHours}:{t.Minutes:D2}:{t.Seconds:D2}");

    /// <summary>Synchronous (<see cref="Progress{T}"/> would post to the thread pool and lines could reorder).</summary>
    private sealed class Lines : IProgress<SftStepMetrics>
    {
        public void Report(SftStepMetrics m) => Console.Error.WriteLine(Line(m));
    }

    private sealed class Bar(ProgressTask task, StatsColumn stats) : IProgress<SftStepMetrics>
    {
        public void Report(SftStepMetrics m)
        {
            stats.Show(m);
            task.MaxValue = m.TotalSteps;
            task.Value = m.Step;
            task.Description = $"step {m.Step}/{m.TotalSteps}";
        }
    }

    /// <summary>Loss, lr, tokens/s and ETA of the latest step; rendered on Spectre's refresh thread.</summary>
    private sealed class StatsColumn : ProgressColumn
    {
        private volatile SftStepMetrics? _latest;

        public void Show(SftStepMetrics m) => _latest = m;

        protected override bool NoWrap => true;

        public override IRenderable Render(RenderOptions options, ProgressTask task, TimeSpan deltaTime) =>
            new Text(_latest is { } m ? Stats(m, gradNorm: false) : "loading model");
    }
}
