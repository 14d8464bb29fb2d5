using Engine.Core.Model;
using Engine.Merge.Config;

namespace Engine.Merge.Batch;

/// <summary>One merge of a batch: a loaded config, where its output goes, and the device that computes it.</summary>
/// <param name="Name">The job's name: the output directory's name under the root, unique in the batch.</param>
/// <param name="Config">The config, as <see cref="MergeConfigReader"/> loaded it (a sweep's value already set in it).</param>
/// <param name="OutputPath">The output model directory.</param>
/// <param name="Device">The job's own <c>--device</c> value (null: the batch's).</param>
public sealed record BatchJob(string Name, MergeConfig Config, string OutputPath, string? Device = null)
{
    /// <summary>Where the job was given, for messages: the job file and its entry, or the config file.</summary>
    public string Origin { get; init; } = Config.Path;
}

/// <summary>Options of a batch run.</summary>
/// <param name="Root">The output root: the job log (<see cref="BatchLog.FileName"/>) is kept here.</param>
public sealed record BatchOptions(string Root)
{
    /// <summary>The device of every job that names none (<c>--device</c>: <c>cpu</c>, <c>cuda:0,1</c>, ...).</summary>
    public string Device { get; init; } = "auto";

    /// <summary>CPU worker threads (0: all cores).</summary>
    public int Threads { get; init; }

    /// <summary>Replace outputs that exist (and are not finished in the log, when resuming).</summary>
    public bool Overwrite { get; init; }

    /// <summary>Skip the jobs the job log records as finished, with the same key, whose output is in place.</summary>
    public bool Resume { get; init; }

    /// <summary>Where an output shard is cut: a shard holds at most this many bytes of tensor data (a larger single tensor gets a shard of its own).</summary>
    public long MaxShardBytes { get; init; } = ShardWriterOptions.DefaultMaxShardBytes;

    /// <summary>The method every stage runs instead of its own (benchmarks time a batch's I/O floor with it).</summary>
    internal Func<Config.MergeDocument, Methods.IMergeMethod>? MethodOverride { get; init; }
}

/// <summary>A progress event of a batch (<c>--json</c> prints each as one line).</summary>
/// <param name="Event"><c>tensor</c> (a job's tensor is written), <c>job</c> (a job is published or skipped),
/// <c>done</c> (the batch is over).</param>
/// <param name="Job">The job's name (null for <c>done</c>).</param>
/// <param name="Tensor">The tensor (for <c>tensor</c>).</param>
/// <param name="Bytes">Bytes written: the tensor's, the job's output's, or the batch's.</param>
/// <param name="Seconds">Time of the tensor's computation, the job's run, or the whole batch.</param>
/// <param name="Status">For <c>job</c>: <c>finished</c> or <c>skipped</c> (finished by an earlier run).</param>
/// <param name="Done">Tensors of the job written so far (for <c>tensor</c>), or jobs finished (for <c>done</c>).</param>
/// <param name="Total">Tensors of the job (for <c>tensor</c>), or jobs of the batch (for <c>done</c>).</param>
public sealed record BatchEvent(string Event, string? Job, string? Tensor, long Bytes, double Seconds, string? Status = null, int Done = 0, int Total = 0)
{
    /// <summary>Where the job's output went (for <c>job</c>).</summary>
    public string? Output { get; init; }

    /// <summary>The device index within the job's devices that computed the tensor (for <c>tensor</c>, several devices).</summary>
    public int? Device { get; init; }
}

/// <summary>The outcome of a batch: each job's output and report (null for jobs skipped as already finished).</summary>
public sealed record BatchResult(IReadOnlyList<(BatchJob Job, Execution.MergeReport? Report)> Jobs, BatchSharing Sharing, double Seconds);

/// <summary>What the batch shared instead of doing twice (see <see cref="Execution.SharedSteps"/>).</summary>
/// <param name="Reads">Input tensor reads served from another job's read.</param>
/// <param name="Steps">Intermediate steps served from another job's result.</param>
/// <param name="Importances">Arcee Fusion importances and quartiles reused across lambdas.</param>
public sealed record BatchSharing(int Reads, int Steps, int Importances);
