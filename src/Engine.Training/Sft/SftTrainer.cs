using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Diagnostics;
using Engine.Core.Model;
using Engine.Interop.Cuda;
using Engine.Training.Data;
using Engine.Training.Distributed;

namespace Engine.Training.Sft;

/// <summary>What one optimizer step did. <see cref="Remaining"/>: the steps left times the average wall time of the
/// steps this process has run (checkpoint writes included). Loss, tokens and tokens/s are those of the global
/// batch (all ranks); <see cref="CollectiveSeconds"/> is the step's time in collectives on this rank.</summary>
public sealed record SftStepMetrics(long Step, long TotalSteps, double Loss, double Lr, double GradNorm, long Tokens, double TokensPerSecond,
    TimeSpan Remaining, double CollectiveSeconds = 0);

/// <summary>The outcome of a run: steps done in total, the final checkpoint, and the step it resumed from (0 = fresh).</summary>
public sealed record SftResult(long Steps, string FinalCheckpoint, long ResumedFromStep);

/// <summary>Supervised fine-tuning on the native trainer (float32 on the CPU, bf16 mixed precision on a GPU), on one process or on the ranks of a
/// <see cref="TrainingWorld"/>. Sequences come from <see cref="SequencePacker"/>; <see cref="BatchSchedule"/>
/// gives each rank its slice of every global batch; <see cref="DataParallelOptimizer"/> synchronises gradients
/// and steps AdamW (ZeRO stage 0 or 1); <see cref="SftCheckpoints"/> writes and restores checkpoints atomically,
/// so a resumed run is bit-identical to an uninterrupted one with the same rank count. Only rank 0 writes the
/// model, the metrics log and reports progress.</summary>
public static class SftTrainer
{
    /// <summary>The trainer state file of a checkpoint (<see cref="SftCheckpoints.StateFile"/>).</summary>
    public const string StateFile = SftCheckpoints.StateFile;
    /// <summary>The metrics log under the output folder (<see cref="MetricsLog.FileName"/>).</summary>
    public const string MetricsFile = MetricsLog.FileName;

    /// <summary>Trains and checkpoints under <paramref name="outDir"/>. With <paramref name="resume"/>, continues
    /// from the newest checkpoint there, or starts at step 0 when there is none (so one command line serves the
    /// first start and every restart after a crash). Without it, a directory holding a previous run (checkpoints
    /// or metrics.jsonl) is an error, unless <paramref name="overwriteOutputDir"/> allows deleting that run's
    /// checkpoints and log first (other files are left alone). <paramref name="log"/> receives the plan's lines
    /// (ranks, global batch, memory) on rank 0. <paramref name="device"/> (default the CPU) is where the model
    /// computes; GPU ranks under a launcher sum over NCCL (<see cref="RankContext"/>), one GPU per rank. With
    /// <paramref name="profilePath"/>, rank 0 times every op (CPU) or kernel (GPU) of one step (<see cref="ProfiledStep"/>),
    /// writes its Chrome/Perfetto trace there and logs the slowest five with their share.</summary>
    public static SftResult Run(string modelPath, IReadOnlyList<TokenizedExample> examples, string outDir, SftOptions options,
        bool resume = false, IProgress<SftStepMetrics>? progress = null, CancellationToken cancellation = default,
        bool overwriteOutputDir = false, TrainingWorld? world = null, Action<string>? log = null, TrainerDevice? device = null,
        string? profilePath = null)
    {
        if (resume && overwriteOutputDir) throw new EngineException("sft: --resume and --overwrite-output-dir exclude each other");
        using var ownWorld = world == null ? TrainingWorld.Single() : null;
        world ??= ownWorld!;
        bool lead = world.Rank == 0;
        if (!lead) (progress, log) = (null, null);
        using var source = ModelDirectory.Open(modelPath);
        CheckOutputIsNotInput(outDir, source.Path);
        if (examples.Count == 0) throw new EngineException("sft: no examples to train on");
        var sequences = SequencePacker.Pack(examples, options.SeqLen, options.Packing);
        var schedule = new BatchSchedule(sequences, options.BatchSize, options.GradAccum, options.Seed, world.Size, world.Rank);
        long total = options.MaxSteps > 0 ? options.MaxSteps : options.Epochs * schedule.StepsPerEpoch;
        device ??= TrainerDevice.Cpu;
        int zeroStage = options.ZeroStageFor(world.Size, world.UsesNccl(device));
        var settings = RunSettings.Of(options, examples, source, world.Size, zeroStage);
        RankAgreement.CheckSettings(world, settings);
        CheckLabels(schedule, total, options.SeqLen, log);

        var config = Qwen2Config.FromModelConfig(source.Config ?? throw new ModelDirectoryException($"{source.Path}: no config.json"));
        // --threads 0 means all cores: shared by the ranks on this machine, not each rank taking all of them.
        int threads = options.Threads > 0 || world.LocalSize <= 1 ? options.Threads : Math.Max(1, Environment.ProcessorCount / world.LocalSize);
        using var rank = RankContext.Open(world, device, threads, "sft");
        var context = rank.Context;
        using var outputLock = lead ? TakeOutputLock(outDir, resume, overwriteOutputDir) : null;
        RankAgreement.CheckSharedOutput(world, outDir);
        string? newest = resume ? SftCheckpoints.Newest(outDir) : null;

        long parameters = config.ParameterCount;
        var plan = MemoryPlan.For(config, parameters, schedule.LongestMicroBatchTokens(), world.Size, zeroStage, device.IsCuda);
        log?.Invoke(string.Create(CultureInfo.InvariantCulture,
            $"{world.Size} rank(s), global batch {schedule.GlobalBatch} sequences ({options.BatchSize} per micro-batch x {options.GradAccum} accumulation x {world.Size} ranks), " +
            $"up to {(long)schedule.GlobalBatch * options.SeqLen} tokens per step, {total} steps{(world.IsDistributed || rank.UsesNccl ? "; transport: " + world.Transport : "")}"));
        log?.Invoke(plan.Describe(parameters, world.Size));
        if (!device.IsCuda) plan.CheckFits(world.LocalSize, MemoryPlan.AvailableBytes(), world.Size);
        else if (CudaLibrary.TotalMemory(device.Ordinal) is { } gpuBytes)
            plan.CheckFits(1, gpuBytes, world.Size, $"GPU {device} ({CudaLibrary.DeviceName(device.Ordinal)}, {gpuBytes / (1024.0 * 1024 * 1024):F1} GiB)");

        using var model = newest != null ? Qwen2Model.Create(context, config) : Qwen2Model.Load(context, source);
        var optimizer = new DataParallelOptimizer(model, world, zeroStage);
        long start = newest != null ? SftCheckpoints.Restore(model, newest, settings) : 0;
        // A restart loop may resume a run that already finished: that is success, with nothing left to do.
        if (start >= total) return new SftResult(start, newest!, start);

        string? metricsPath = lead ? MetricsLog.Start(outDir, start, newest != null) : null;
        string final = "";
        var runClock = Stopwatch.StartNew();
        long profiled = lead && profilePath != null ? ProfiledStep(start, total) : -1;
        for (long step = start + 1; step <= total; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            var trace = step == profiled ? new ProfileTrace() : null;
            if (trace != null) model.SetProfiling(true);
            var stepSpan = trace.Span("training step", "step", $"step {step} on {device}");
            var clock = Stopwatch.StartNew();
            double collectivesBefore = world.CollectiveSeconds;
            var batches = schedule.For(step);
            model.ZeroGradients();
            double sum = 0;
            foreach (var batch in batches.MicroBatches)
            {
                sum += model.ForwardBackward(batch, 1.0 / Math.Max(1, batches.GlobalScoredTokens)).Sum;
                model.AccumulateGradients();
            }
            sum = world.AllReduceSum(sum);
            double lr = options.LearningRate(step, total);
            var a = options.AdamW;
            double norm = optimizer.Step(new AdamWOptions(lr, a.Beta1, a.Beta2, a.Eps, a.WeightDecay, a.MaxGradNorm), step);
            if (trace != null)
            {
                context.Synchronize();  // a GPU queues AdamW: the step ends when its kernels have run
                stepSpan.Dispose();
                WriteProfile(model, trace, clock.Elapsed.TotalSeconds, device, profilePath!, log);
            }
            double seconds = clock.Elapsed.TotalSeconds;
            var remaining = runClock.Elapsed / (step - start) * (total - step);
            var metrics = new SftStepMetrics(step, total, batches.GlobalScoredTokens > 0 ? sum / batches.GlobalScoredTokens : double.NaN, lr, norm,
                batches.GlobalTokens, batches.GlobalTokens / Math.Max(seconds, 1e-9), remaining, world.CollectiveSeconds - collectivesBefore);
            if (metricsPath != null) MetricsLog.Append(metricsPath, metrics);
            progress?.Report(metrics);
            if ((options.SaveSteps > 0 && step % options.SaveSteps == 0) || step == total)
                final = SftCheckpoints.Save(model, source, outDir, step, total, settings, world, optimizer);
        }
        return new SftResult(total, final, start);
    }

    /// <summary>The step <c>--profile</c> times: the second of this run (the first allocates the optimizer state and
    /// the accumulator), or the only one.</summary>
    public static long ProfiledStep(long start, long total) => Math.Min(start + 2, total);

    private static void WriteProfile(Qwen2Model model, ProfileTrace trace, double seconds, TrainerDevice device, string path, Action<string>? log)
    {
        // The step's span started when the trace did, and so did the first op, within the span's start-up.
        var profile = StepProfile.Collect(model, seconds, device.ToString(), trace, trace.Events()[0].StartNanoseconds);
        trace.Write(path);
        foreach (string line in profile.Describe()) log?.Invoke(line);
        log?.Invoke($"trace of that step ({profile.Ops.Count} ops) written to {path} (open in ui.perfetto.dev or chrome://tracing)");
    }

    /// <summary>The optimizer steps a run of <paramref name="options"/> on <paramref name="examples"/> over
    /// <paramref name="ranks"/> ranks takes: <c>max_steps</c>, or epochs times the steps of one pass (the
    /// packed sequences over the global batch, rounded up), exactly as <see cref="Run"/> counts them.</summary>
    public static long PlannedSteps(IReadOnlyList<TokenizedExample> examples, SftOptions options, int ranks = 1)
    {
        if (options.MaxSteps > 0) return options.MaxSteps;
        var sequences = SequencePacker.Pack(examples, options.SeqLen, options.Packing);
        return options.Epochs * new BatchSchedule(sequences, options.BatchSize, options.GradAccum, options.Seed, ranks, 0).StepsPerEpoch;
    }

    /// <summary>The checkpoint with the highest step under <paramref name="outDir"/>, or null.</summary>
    public static string? NewestCheckpoint(string outDir) => SftCheckpoints.Newest(outDir);

    /// <summary>Checkpoints and the metrics log go under --out, which must not be (or lie inside, or contain) the
    /// model being trained, however the paths are spelled: a checkpoint would land in the input, and
    /// --overwrite-output-dir would delete it.</summary>
    private static void CheckOutputIsNotInput(string outDir, string modelPath)
    {
        if (OutputPaths.Overlap(outDir, modelPath))
            throw new EngineException($"sft: --out {outDir} overlaps --model {modelPath}; checkpoints must not be written into the input model (or the model into the output): choose another --out");
    }

    /// <summary>A run whose global batches carry no label token would train on nothing (a NaN loss, zero gradients):
    /// refuse it before any work; warn when only some steps have none.</summary>
    private static void CheckLabels(BatchSchedule schedule, long total, int seqLen, Action<string>? log)
    {
        long empty = schedule.StepsWithoutLabels(total);
        if (empty == total)
            throw new EngineException($"sft: no step has a label token to learn from (every example loses its assistant/label tokens within --seq-len {seqLen}, or has none); " +
                "raise --seq-len or check the data's labels");
        if (empty > 0)
            log?.Invoke($"warning: {empty} of {total} steps carry no label token (their loss is logged as null; only momentum and weight decay move the weights)");
    }

    /// <summary>Takes the lock of --out (<see cref="OutputLock"/>, held until the run ends), then clears a previous
    /// run as asked and creates --out, all before any training work: a second run into the same --out fails at once.</summary>
    private static OutputLock TakeOutputLock(string outDir, bool resume, bool overwrite)
    {
        var outputLock = OutputLock.Acquire(Path.GetFullPath(outDir).TrimEnd('/'));
        try
        {
            Directory.CreateDirectory(outDir);
            if (!resume) SftCheckpoints.ClearPreviousRun(outDir, overwrite);
            return outputLock;
        }
        catch
        {
            outputLock.Dispose();
            throw;
        }
    }
}
