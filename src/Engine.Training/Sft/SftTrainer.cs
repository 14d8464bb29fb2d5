using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Numerics;
using Engine.Core.Safetensors;
using Engine.Training.Data;

namespace Engine.Training.Sft;

/// <summary>What one optimizer step did. <see cref="Remaining"/>: the steps left times the average wall time of the
/// steps this process has run (checkpoint writes included).</summary>
public sealed record SftStepMetrics(long Step, long TotalSteps, double Loss, double Lr, double GradNorm, long Tokens, double TokensPerSecond,
    TimeSpan Remaining);

/// <summary>The outcome of a run: steps done in total, the final checkpoint, and the step it resumed from (0 = fresh).</summary>
public sealed record SftResult(long Steps, string FinalCheckpoint, long ResumedFromStep);

/// <summary>Supervised fine-tuning on the native CPU trainer (float32). Sequences come from
/// <see cref="SequencePacker"/>, are shuffled per epoch with <c>Random(seed + epoch)</c>, and a step takes the next
/// <c>batch_size * grad_accum</c> of them (the last step of an epoch may take fewer). Checkpoints are complete HF
/// directories <c>OUT/checkpoint-STEP</c> in the input model's dtype with its config and side files, plus
/// <c>optimizer/</c> (float32 parameters and AdamW moments) and <c>trainer_state.json</c> (step, total steps,
/// parameter count and the <see cref="RunSettings"/>), written atomically: a kill at any moment leaves the
/// newest complete checkpoint as it was. Resuming checks the settings and restores the float32 state, so a
/// resumed run is bit-identical to an uninterrupted one.</summary>
public static class SftTrainer
{
    public const string StateFile = "trainer_state.json";
    public const string MetricsFile = "metrics.jsonl";
    private const string CheckpointPrefix = "checkpoint-";
    private const int StateChunk = 1 << 28;
    private static readonly (ModelBuffer Buffer, string Name)[] StateBuffers =
        [(ModelBuffer.Parameters, "params"), (ModelBuffer.AdamFirstMoment, "adam_m"), (ModelBuffer.AdamSecondMoment, "adam_v")];

    /// <summary>Trains and checkpoints under <paramref name="outDir"/>. With <paramref name="resume"/>, continues
    /// from the newest checkpoint there, or starts at step 0 when there is none (so one command line serves the
    /// first start and every restart after a crash). Without it, a directory holding a previous run (checkpoints
    /// or metrics.jsonl) is an error, unless <paramref name="overwriteOutputDir"/> allows deleting that run's
    /// checkpoints and log first (other files are left alone).</summary>
    public static SftResult Run(string modelPath, IReadOnlyList<TokenizedExample> examples, string outDir, SftOptions options,
        bool resume = false, IProgress<SftStepMetrics>? progress = null, CancellationToken cancellation = default,
        bool overwriteOutputDir = false)
    {
        if (resume && overwriteOutputDir) throw new EngineException("sft: --resume and --overwrite-output-dir exclude each other");
        using var source = ModelDirectory.Open(modelPath);
        if (examples.Count == 0) throw new EngineException("sft: no examples to train on");
        var sequences = SequencePacker.Pack(examples, options.SeqLen, options.Packing);
        int perStep = options.BatchSize * options.GradAccum;
        long stepsPerEpoch = (sequences.Count + perStep - 1) / perStep;
        long total = options.MaxSteps > 0 ? options.MaxSteps : options.Epochs * stepsPerEpoch;
        var settings = RunSettings.Of(options, examples, source);
        string? newest = resume ? NewestCheckpoint(outDir) : null;
        if (!resume) ClearPreviousRun(outDir, overwriteOutputDir);
        Directory.CreateDirectory(outDir);

        using var context = ComputeContext.CreateCpu(options.Threads);
        long start = 0;
        using var model = newest != null ? Restore(context, source, newest, settings, out start) : Qwen2Model.Load(context, source);
        // A restart loop may resume a run that already finished: that is success, with nothing left to do.
        if (start >= total) return new SftResult(start, newest!, start);

        string metricsPath = Path.Combine(outDir, MetricsFile);
        // A fresh run starts the log; a resumed one drops the lines of steps after its checkpoint (a crashed run
        // may have logged steps it never saved, the last line perhaps cut short).
        var kept = newest == null || !File.Exists(metricsPath) ? [] : File.ReadAllLines(metricsPath).Where(l => LoggedStep(l) <= start).ToArray();
        File.WriteAllLines(metricsPath, kept);
        string final = "";
        int[]? order = null;
        long orderEpoch = -1;
        var runClock = Stopwatch.StartNew();
        for (long step = start + 1; step <= total; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            long epoch = (step - 1) / stepsPerEpoch;
            if (epoch != orderEpoch)
            {
                order = Shuffle(sequences.Count, options.Seed + epoch);
                orderEpoch = epoch;
            }
            int first = (int)((step - 1) % stepsPerEpoch) * perStep;
            var stepSequences = order!.Skip(first).Take(perStep).Select(i => sequences[i]).ToList();
            var microBatches = stepSequences.Chunk(options.BatchSize).Select(Concat).ToList();
            long scored = microBatches.Sum(b => (long)b.ScoredTokens);
            model.ZeroGradients();
            double sum = 0;
            long tokens = 0;
            foreach (var batch in microBatches)
            {
                sum += model.ForwardBackward(batch, 1.0 / Math.Max(1, scored)).Sum;
                tokens += batch.Tokens.Length;
            }
            double lr = options.LearningRate(step, total);
            var a = options.AdamW;
            double norm = model.AdamWStep(new AdamWOptions(lr, a.Beta1, a.Beta2, a.Eps, a.WeightDecay, a.MaxGradNorm), step);
            double seconds = clock.Elapsed.TotalSeconds;
            var remaining = runClock.Elapsed / (step - start) * (total - step);
            var metrics = new SftStepMetrics(step, total, scored > 0 ? sum / scored : double.NaN, lr, norm, tokens,
                tokens / Math.Max(seconds, 1e-9), remaining);
            AppendMetrics(metricsPath, metrics);
            progress?.Report(metrics);
            if ((options.SaveSteps > 0 && step % options.SaveSteps == 0) || step == total)
                final = SaveCheckpoint(model, source, outDir, step, total, settings);
        }
        return new SftResult(total, final, start);
    }

    /// <summary>The checkpoint with the highest step under <paramref name="outDir"/>, or null. Only complete ones
    /// count: a checkpoint appears under its name only once fully written.</summary>
    public static string? NewestCheckpoint(string outDir) =>
        Checkpoints(outDir).Where(c => File.Exists(Path.Combine(c.Dir, StateFile))).OrderByDescending(c => c.Step).Select(c => c.Dir).FirstOrDefault();

    private static IEnumerable<(string Dir, long Step)> Checkpoints(string outDir)
    {
        if (!Directory.Exists(outDir)) return [];
        return Directory.GetDirectories(outDir, CheckpointPrefix + "*")
            .Select(d => (Dir: d, Ok: long.TryParse(Path.GetFileName(d)[CheckpointPrefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out long s), Step: s))
            .Where(c => c.Ok)
            .Select(c => (c.Dir, c.Step));
    }

    /// <summary>Refuses, or with <paramref name="overwrite"/> deletes, the checkpoints and metrics log of a previous
    /// run in <paramref name="outDir"/>; a later --resume must never pick up a stale checkpoint.</summary>
    private static void ClearPreviousRun(string outDir, bool overwrite)
    {
        var checkpoints = Checkpoints(outDir).OrderBy(c => c.Step).Select(c => c.Dir).ToList();
        string metrics = Path.Combine(outDir, MetricsFile);
        if (checkpoints.Count == 0 && !File.Exists(metrics)) return;
        if (!overwrite)
        {
            string what = checkpoints.Count > 0 ? Path.GetFileName(checkpoints[^1]) : MetricsFile;
            throw new EngineException($"{outDir}: holds a previous run ({what}); pass --resume to continue it, " +
                "--overwrite-output-dir to delete it and start over, or choose another --out");
        }
        foreach (var dir in checkpoints) Directory.Delete(dir, recursive: true);
        File.Delete(metrics);
    }

    private static PackedBatch Concat(TrainingSequence[] sequences) =>
        new(sequences.SelectMany(s => s.Tokens).ToArray(), sequences.SelectMany(s => s.Labels).ToArray(),
            sequences.SelectMany(s => s.DocumentLengths).ToArray());

    private static int[] Shuffle(int count, long seed)
    {
        var order = Enumerable.Range(0, count).ToArray();
        new Random(unchecked((int)seed)).Shuffle(order);
        return order;
    }

    private static long? LoggedStep(string line)
    {
        try
        {
            return JsonNode.Parse(line)?["step"]?.GetValue<long>();
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static void AppendMetrics(string path, SftStepMetrics m)
    {
        var line = new JsonObject
        {
            ["step"] = m.Step,
            ["loss"] = double.IsNaN(m.Loss) ? null : m.Loss,
            ["lr"] = m.Lr,
            ["grad_norm"] = m.GradNorm,
            ["tokens"] = m.Tokens,
            ["tokens_per_s"] = m.TokensPerSecond,
        };
        File.AppendAllText(path, line.ToJsonString() + "\n");
    }

    private static string SaveCheckpoint(Qwen2Model model, ModelDirectory source, string outDir, long step, long total, JsonObject settings)
    {
        var embedding = source.GetTensor(ModelDirectory.EmbeddingName).Info.DType;
        var dtype = embedding is DType.BF16 or DType.F16 ? embedding : DType.F32;
        string target = Path.Combine(outDir, $"{CheckpointPrefix}{step}");
        var specs = model.Parameters.Select(p => new TensorSpec(p.Name, dtype, p.Shape)).ToList();
        using var writer = ShardWriter.Create(target, specs, new ShardWriterOptions(overwrite: true));
        foreach (var p in model.Parameters)
        {
            var values = new float[p.Count];
            model.ReadBuffer(ModelBuffer.Parameters, values, p.Offset);
            var bytes = new byte[p.Count * dtype.SizeOf()];
            DTypeConversion.FromSingle(values, dtype, bytes);
            writer.WriteTensor(p.Name, bytes);
        }
        var config = source.Config?.WithDType(dtype) ?? throw new ModelDirectoryException($"{source.Path}: no config.json");
        writer.WriteFile("config.json", Encoding.UTF8.GetBytes(config.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));
        foreach (var file in source.OtherFiles) writer.CopyFile(Path.Combine(source.Path, file), file);
        var chunk = new float[Math.Min(StateChunk, model.ParameterCount)];
        foreach (var (buffer, name) in StateBuffers)
        {
            for (long offset = 0, k = 0; offset < model.ParameterCount; offset += StateChunk, k++)
            {
                int n = (int)Math.Min(StateChunk, model.ParameterCount - offset);
                model.ReadBuffer(buffer, chunk.AsSpan(0, n), offset);
                writer.WriteFile($"optimizer/{name}-{k:D5}.f32", MemoryMarshal.AsBytes(chunk.AsSpan(0, n)));
            }
        }
        var state = new JsonObject
        {
            ["step"] = step, ["total_steps"] = total, ["parameters"] = model.ParameterCount, ["run"] = settings.DeepClone(),
        };
        writer.WriteFile(StateFile, Encoding.UTF8.GetBytes(state.ToJsonString()));
        writer.Commit();
        return target;
    }

    private static Qwen2Model Restore(ComputeContext context, ModelDirectory source, string checkpoint, JsonObject settings, out long step)
    {
        var config = Qwen2Config.FromModelConfig(source.Config ?? throw new ModelDirectoryException($"{source.Path}: no config.json"));
        string statePath = Path.Combine(checkpoint, StateFile);
        var state = JsonNode.Parse(File.ReadAllText(statePath)) as JsonObject ?? throw new EngineException($"{statePath}: not a JSON object");
        step = state["step"]?.GetValue<long>() ?? throw new EngineException($"{statePath}: no 'step'");
        RunSettings.CheckResume(statePath, state["run"] as JsonObject, settings);
        var model = Qwen2Model.Create(context, config);
        try
        {
            long expected = state["parameters"]?.GetValue<long>() ?? -1;
            if (expected != model.ParameterCount)
                throw new EngineException($"{statePath}: {expected} parameters saved, the model of {source.Path} has {model.ParameterCount}");
            var chunk = new float[Math.Min(StateChunk, model.ParameterCount)];
            foreach (var (buffer, name) in StateBuffers)
            {
                for (long offset = 0, k = 0; offset < model.ParameterCount; offset += StateChunk, k++)
                {
                    int n = (int)Math.Min(StateChunk, model.ParameterCount - offset);
                    string file = Path.Combine(checkpoint, "optimizer", $"{name}-{k:D5}.f32");
                    var bytes = File.ReadAllBytes(file);
                    if (bytes.Length != n * 4) throw new EngineException($"{file}: {bytes.Length} bytes, expected {n * 4}");
                    model.WriteBuffer(buffer, MemoryMarshal.Cast<byte, float>(bytes), offset);
                }
            }
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }
}
