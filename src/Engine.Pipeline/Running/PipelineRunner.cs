using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Engine.Merge;
using Engine.Merge.Config;
using Engine.Merge.Execution;
using Engine.Pipeline.Planning;
using Engine.Pipeline.Reporting;
using Engine.Training;
using Engine.Training.Data;
using Engine.Training.Distributed;
using Engine.Training.Evaluation;
using Engine.Training.Sft;
using Engine.Training.Synthetic;

namespace Engine.Pipeline.Running;

/// <summary>Options of one pipeline run.</summary>
public sealed record PipelineRunOptions
{
    /// <summary>Steps to redo (with every step that depends on them), finished or not.</summary>
    public IReadOnlyList<string> Force { get; init; } = [];

    /// <summary>CPU threads for training, merging and evaluation (0: all cores; under mpirun SFT shares them by rank).</summary>
    public int Threads { get; init; }

    /// <summary>The ranks of a data-parallel run (null: this process alone). SFT steps use all of them; every
    /// other step runs on rank 0 while the others wait.</summary>
    public TrainingWorld? World { get; init; }
}

/// <summary>Runs a <see cref="PipelinePlan"/> through the libraries (never the CLI): each step not finished
/// before is built in <c>steps/.partial/ID-KEY</c> and published by renaming it to <c>steps/ID-KEY</c> once
/// complete, so a step folder is there whole or not at all (the embedded backbone is published the same way, by
/// its own cache, into <see cref="PipelinePlan.BackbonePath"/>). A killed run resumes at the step it was in: an SFT
/// or the backbone's pre-training from its newest checkpoint (the partial or work folder keeps them), any other step
/// from its start. A step that fails leaves no partial folder behind unless it holds a checkpoint to resume from.</summary>
public sealed class PipelineRunner(SftService sft, MergeService merge)
{
    /// <summary>Each step's state before a run, with <paramref name="force"/> applied (no file is touched).</summary>
    public static IReadOnlyList<StepStatus> Status(PipelinePlan plan, IReadOnlyList<string> force)
    {
        var forced = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in force) forced.UnionWith(plan.WithDependents(id));
        return plan.Steps.Select(s => new StepStatus(s, !forced.Contains(s.Id) && IsFinished(plan, s), forced.Contains(s.Id))).ToList();
    }

    private static bool IsFinished(PipelinePlan plan, PipelineStep step) => step switch
    {
        ReportStep => PipelineReport.IsCurrent(plan.OutputPath, step.Key),
        BackboneStep b => SyntheticExperiment.IsBackboneCached(plan.BackbonePath, b.Backbone.Size, b.Seed),
        _ => File.Exists(Path.Combine(plan.StepPath(step), StepRecords.FileName)),
    };

    /// <summary>Every folder a step writes: its published and partial folders (the backbone: its directory and the
    /// work and staging folders beside it).</summary>
    private static IEnumerable<string> Outputs(PipelinePlan plan, PipelineStep step) => step is BackboneStep
        ? SyntheticExperiment.BackboneFolders(plan.BackbonePath)
        : [plan.StepPath(step), plan.PartialPath(step)];

    /// <summary>Runs every step of <paramref name="plan"/> that is not finished (or is forced by
    /// <see cref="PipelineRunOptions.Force"/>), in plan order, and returns each step's state as it was before the run.
    /// With <see cref="PipelineRunOptions.World"/> set every rank calls this: the ranks run each SFT together, rank 0
    /// alone runs the merges, evaluations and the report (and deletes forced steps' outputs), and only rank 0 reports
    /// to <paramref name="progress"/>. Cancellation stops between steps or inside an SFT or a merge; what was finished
    /// stays published and a later run resumes.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled.</exception>
    /// <exception cref="Core.EngineException">A step failed (bad data, a model that cannot be read or merged).</exception>
    public async Task<IReadOnlyList<StepStatus>> RunAsync(PipelinePlan plan, PipelineRunOptions options, IProgress<PipelineEvent>? progress = null,
        CancellationToken cancellation = default)
    {
        var world = options.World;
        bool lead = world is null || world.Rank == 0;
        if (!lead) progress = null;
        var statuses = Status(plan, options.Force);
        // Every rank reads the cache before any rank writes to it.
        world?.Barrier();
        if (lead)
        {
            foreach (var s in statuses.Where(s => s.Forced))
                foreach (var folder in Outputs(plan, s.Step)) DeleteIfPresent(folder);
        }
        foreach (var status in statuses)
        {
            var step = status.Step;
            if (status.Cached)
            {
                progress?.Report(new PipelineEvent(PipelineEventKind.Cached, step.Id, step.Describe()));
                continue;
            }
            cancellation.ThrowIfCancellationRequested();
            progress?.Report(new PipelineEvent(PipelineEventKind.Started, step.Id, step.Describe()));
            var clock = Stopwatch.StartNew();
            string detail;
            try
            {
                if (step is SftStep sftStep)
                    detail = await RunSftAsync(plan, sftStep, options, world, progress, clock, cancellation);
                else
                    detail = lead ? await RunOnLeadAsync(plan, step, options, progress, clock, cancellation) : "";
            }
            catch when (lead)
            {
                RemoveUnresumablePartial(plan, step);
                throw;
            }
            world?.Barrier();
            progress?.Report(new PipelineEvent(PipelineEventKind.Finished, step.Id, step.Describe(), 1, detail, clock.Elapsed.TotalSeconds));
        }
        return statuses;
    }

    private Task<string> RunOnLeadAsync(PipelinePlan plan, PipelineStep step, PipelineRunOptions options, IProgress<PipelineEvent>? progress, Stopwatch clock,
        CancellationToken cancellation) => step switch
        {
            BackboneStep b => RunBackboneAsync(plan, b, options, progress, cancellation),
            MergeStep m => RunMergeAsync(plan, m, options, progress, clock, cancellation),
            EvalStep e => Task.Run(() => RunEval(plan, e, options, clock, cancellation), cancellation),
            ReportStep r => Task.Run(() => PipelineReport.Write(plan, r.Key).Summary, cancellation),
            _ => throw new InvalidOperationException($"unknown step kind {step.GetType().Name}"),
        };

    private async Task<string> RunSftAsync(PipelinePlan plan, SftStep step, PipelineRunOptions options, TrainingWorld? world, IProgress<PipelineEvent>? progress,
        Stopwatch clock, CancellationToken cancellation)
    {
        var recipe = plan.Recipe;
        string partial = plan.PartialPath(step);
        Directory.CreateDirectory(partial);
        var examples = PipelinePlan.LoadExamples(recipe.Backbone, step.TrainFiles, step.Settings.ToDatasetOptions());
        var sftOptions = step.Settings.ToOptions(recipe.Seed, step.MaxSteps);
        if (sftOptions.Threads == 0 && options.Threads > 0) sftOptions = step.Settings.Set("threads", options.Threads.ToString(CultureInfo.InvariantCulture)).ToOptions(recipe.Seed, step.MaxSteps);
        var request = new SftRequest(plan.BackbonePath, examples, partial, sftOptions) { Resume = true, World = world };
        var result = await sft.RunAsync(request, TrainingProgress(step, progress), cancellation);
        if (world is not null && world.Rank != 0) return "";

        // Publish only the final model: the checkpoints were there to resume a killed run.
        string model = Path.Combine(partial, "model");
        DeleteIfPresent(model);
        Directory.Move(result.FinalCheckpoint, model);
        foreach (var (dir, _) in SftCheckpoints.List(partial)) Directory.Delete(dir, recursive: true);
        DeleteIfPresent(Path.Combine(model, "optimizer"));
        var (tokens, trainSeconds) = MetricsTotals(Path.Combine(partial, MetricsLog.FileName));
        StepRecords.Write(partial, new SftOutcome(step.Key, result.Steps, result.ResumedFromStep, tokens, trainSeconds, clock.Elapsed.TotalSeconds));
        Publish(plan, step);
        return $"{result.Steps} steps{(result.ResumedFromStep > 0 ? $" (resumed at {result.ResumedFromStep})" : "")}, {tokens} tokens";
    }

    /// <summary>Pre-trains the embedded backbone into <see cref="PipelinePlan.BackbonePath"/> (resuming a killed
    /// pre-training from its newest checkpoint), with the trainer threads of the shared <c>sft:</c> settings or the run's.</summary>
    private static async Task<string> RunBackboneAsync(PipelinePlan plan, BackboneStep step, PipelineRunOptions options, IProgress<PipelineEvent>? progress,
        CancellationToken cancellation)
    {
        int threads = plan.Recipe.Sft.ToOptions(plan.Recipe.Seed).Threads is > 0 and var own ? own : options.Threads;
        return await SyntheticExperiment.PretrainBackboneAsync(plan.BackbonePath, step.Backbone.Size, step.Seed, threads, TrainingProgress(step, progress), cancellation);
    }

    /// <summary>A training run's optimizer steps as progress events of <paramref name="step"/>.</summary>
    private static SynchronousProgress<SftStepMetrics>? TrainingProgress(PipelineStep step, IProgress<PipelineEvent>? progress) =>
        progress is null ? null : new SynchronousProgress<SftStepMetrics>(m => progress.Report(new PipelineEvent(PipelineEventKind.Progress, step.Id, step.Describe(),
            (double)m.Step / m.TotalSteps, string.Create(CultureInfo.InvariantCulture, $"step {m.Step}/{m.TotalSteps} loss {m.Loss:F4}, {(int)m.Remaining.TotalMinutes}:{m.Remaining.Seconds:D2} left"))));

    private async Task<string> RunMergeAsync(PipelinePlan plan, MergeStep step, PipelineRunOptions options, IProgress<PipelineEvent>? progress, Stopwatch clock,
        CancellationToken cancellation)
    {
        string partial = FreshPartial(plan, step);
        string text = step.Render(plan.ModelPath);
        string configPath = Path.Combine(partial, "merge.yml");
        File.WriteAllText(configPath, text);
        var config = MergeConfigReader.Parse(configPath, text);
        var mergeProgress = progress is null ? null : new SynchronousProgress<MergeProgress>(p => progress.Report(new PipelineEvent(PipelineEventKind.Progress,
            step.Id, step.Describe(), (double)p.Done / p.Total, $"tensor {p.Done}/{p.Total}")));
        var result = await merge.RunAsync(config, new MergeRunOptions(Path.Combine(partial, "model")), "cpu", options.Threads, mergeProgress, cancellation);
        var totals = result.Report.Totals;
        double? kept = totals.MergedElements > 0 ? totals.KeptFraction : null;
        StepRecords.Write(partial, new MergeOutcome(step.Key, clock.Elapsed.TotalSeconds, kept));
        Publish(plan, step);
        return kept is { } k ? string.Create(CultureInfo.InvariantCulture, $"kept {k:P2} from the other model in the last stage") : $"{totals.Tensors} tensors";
    }

    private static string RunEval(PipelinePlan plan, EvalStep step, PipelineRunOptions options, Stopwatch clock, CancellationToken cancellation)
    {
        var recipe = plan.Recipe;
        string partial = FreshPartial(plan, step);
        string modelPath = plan.ModelPath(step.Model);
        var dataset = SftDataset.Load(step.Domain.Eval, modelPath, recipe.Sft.ToDatasetOptions());
        using var directory = ModelDirectory.Open(modelPath);
        using var context = ComputeContext.CreateCpu(options.Threads);
        using var model = Qwen2Model.Load(context, directory);
        var accuracy = recipe.Eval.Metric == EvalMetric.ExactMatch
            ? ModelEvaluator.ExactMatch(model, directory, dataset, step.Domain.Eval, recipe.Eval.MaxNewTokens, recipe.Eval.Batch, null, cancellation)
            : null;
        var loss = ModelEvaluator.Loss(model, dataset, null, cancellation);
        StepRecords.Write(partial, new EvalOutcome(step.Key, dataset.Examples.Count, accuracy?.Value, accuracy is null ? null : [accuracy.Interval.Low, accuracy.Interval.High],
            loss.Value, [loss.Interval.Low, loss.Interval.High], clock.Elapsed.TotalSeconds));
        Publish(plan, step);
        return string.Create(CultureInfo.InvariantCulture, $"{(accuracy is null ? "" : $"accuracy {accuracy.Value:F3}, ")}loss {loss.Value:F4}");
    }

    /// <summary>The tokens and the training time (sum of each step's tokens / tokens per second) in a metrics log.</summary>
    internal static (long Tokens, double Seconds) MetricsTotals(string path)
    {
        long tokens = 0;
        double seconds = 0;
        foreach (var line in File.ReadLines(path))
        {
            if (JsonNode.Parse(line) is not JsonObject m) continue;
            long t = m["tokens"]!.GetValue<long>();
            double rate = m["tokens_per_s"]!.GetValue<double>();
            tokens += t;
            if (rate > 0) seconds += t / rate;
        }
        return (tokens, seconds);
    }

    /// <summary>After a step failed or was cancelled: its partial folder goes unless it holds an SFT checkpoint that a
    /// rerun resumes from (a merge, an evaluation or the report always starts afresh), and <c>steps/.partial</c> and
    /// <c>steps</c> go when that leaves them empty. The backbone's work folder is its pre-training's to keep.</summary>
    private static void RemoveUnresumablePartial(PipelinePlan plan, PipelineStep step)
    {
        if (step is BackboneStep) return;
        string partial = plan.PartialPath(step);
        if (step is SftStep && Directory.Exists(partial) && SftCheckpoints.Newest(partial) is not null) return;
        DeleteIfPresent(partial);
        foreach (var folder in new[] { Path.GetDirectoryName(partial)!, plan.StepsPath })
            if (Directory.Exists(folder) && !Directory.EnumerateFileSystemEntries(folder).Any()) Directory.Delete(folder);
    }

    /// <summary>A step that cannot resume starts from an empty partial folder.</summary>
    private static string FreshPartial(PipelinePlan plan, PipelineStep step)
    {
        string partial = plan.PartialPath(step);
        DeleteIfPresent(partial);
        Directory.CreateDirectory(partial);
        return partial;
    }

    private static void Publish(PipelinePlan plan, PipelineStep step)
    {
        string target = plan.StepPath(step);
        // A folder without step.json is not a finished step (say, left by hand): it is replaced.
        DeleteIfPresent(target);
        Directory.Move(plan.PartialPath(step), target);
    }

    private static void DeleteIfPresent(string path)
    {
        if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
    }
}
