using Engine.Training.Data;
using Engine.Training.Distributed;

namespace Engine.Training.Sft;

/// <summary>One SFT run as a host asks for it: the model to start from, the examples, where checkpoints go and
/// the settings. <see cref="Resume"/>: continue from the newest checkpoint under <see cref="OutputPath"/> (or start
/// when there is none); <see cref="World"/>: the ranks to train on (null: this process alone).</summary>
public sealed record SftRequest(string ModelPath, IReadOnlyList<TokenizedExample> Examples, string OutputPath, SftOptions Options)
{
    /// <summary>Continue from the newest checkpoint under <see cref="OutputPath"/> (the same settings required).</summary>
    public bool Resume { get; init; }

    /// <summary>Start afresh in an output folder that already holds a run, replacing it.</summary>
    public bool OverwriteOutputDir { get; init; }

    /// <summary>The ranks of a data-parallel run; null: this process alone.</summary>
    public TrainingWorld? World { get; init; }

    /// <summary>Receives the run's plan lines (ranks, global batch, memory) on rank 0.</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>Runs SFT for a host, off the caller's thread, like <c>MergeService</c> runs merges: progress once per
/// optimizer step, cancellation between steps (the checkpoints already written stay, so a later run with
/// <see cref="SftRequest.Resume"/> continues from the newest).</summary>
public sealed class SftService
{
    /// <summary>Trains <paramref name="request"/> on a long-running thread of its own.</summary>
    /// <param name="request">The model, the examples, the output folder and the settings.</param>
    /// <param name="progress">Told after every optimizer step (on rank 0 of a data-parallel run), on the training thread.</param>
    /// <param name="cancellation">Stops between steps; the checkpoints already written stay.</param>
    /// <returns>The steps done and the final checkpoint.</returns>
    public Task<SftResult> RunAsync(SftRequest request, IProgress<SftStepMetrics>? progress = null, CancellationToken cancellation = default) =>
        Task.Factory.StartNew(() => SftTrainer.Run(request.ModelPath, request.Examples, request.OutputPath, request.Options, request.Resume, progress,
            cancellation, request.OverwriteOutputDir, request.World, request.Log), cancellation, TaskCreationOptions.LongRunning, TaskScheduler.Default);
}
