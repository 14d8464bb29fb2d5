namespace Engine.Pipeline.Running;

/// <summary>What happened to a step.</summary>
public enum PipelineEventKind
{
    /// <summary>The step's finished output was found and is reused.</summary>
    Cached,

    /// <summary>The step started (its partial folder is in use).</summary>
    Started,

    /// <summary>Progress within a running step (<see cref="PipelineEvent.Fraction"/> and a detail line).</summary>
    Progress,

    /// <summary>The step's output was published; <see cref="PipelineEvent.Seconds"/> is its wall time.</summary>
    Finished,
}

/// <summary>One event of a run, for a live view or (one JSON object per line) for other programs.</summary>
public sealed record PipelineEvent(PipelineEventKind Kind, string Step, string Description, double? Fraction = null, string? Detail = null, double? Seconds = null);

/// <summary>A step's state before a run: finished (its output is reused), forced (redone by <c>--force</c>), or to run.</summary>
public sealed record StepStatus(Planning.PipelineStep Step, bool Cached, bool Forced)
{
    /// <summary>The state as the plan listing prints it: <c>cached</c>, <c>forced</c> or <c>to run</c>.</summary>
    public string State => Cached ? "cached" : Forced ? "forced" : "to run";
}
