using System.Collections.Immutable;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Diagnostics;
using Engine.Core.Model;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Methods;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Engine.Merge.Execution;

/// <summary>Options of one merge run.</summary>
public sealed record MergeRunOptions(string OutputPath)
{
    /// <summary>Replace an existing output directory; without it an existing output is an error and nothing is written.</summary>
    public bool Overwrite { get; init; }
    /// <summary>Where an output shard is cut: a shard holds at most this many bytes of tensor data (a larger single tensor gets a shard of its own).</summary>
    public long MaxShardBytes { get; init; } = ShardWriterOptions.DefaultMaxShardBytes;

    /// <summary>When set, every named intermediate stage is also written as a model directory here.</summary>
    public string? KeepIntermediatesPath { get; init; }

    /// <summary>When set, the run records its stages (read, convert, upload, kernel, download, write) here.</summary>
    public ProfileTrace? Trace { get; init; }
}

/// <summary>Progress of a merge: tensors done out of the total, and the tensor just finished.</summary>
public sealed record MergeProgress(int Done, int Total, string Tensor, long BytesWritten);

/// <summary>The outcome of a merge: where it went and the report written beside it.</summary>
public sealed record MergeResult(string OutputPath, MergeReport Report);

/// <summary>Runs a merge plan tensor by tensor in one streaming pass: each output tensor is computed through
/// every stage (intermediate results stay in memory, in their stage's dtype, and are dropped after the
/// tensor) and streamed into its shard. Memory is bounded by a few tensors per device, never by the model;
/// the output appears at its path only when complete. With several devices (GPUs), each takes the next
/// tensor not yet claimed, so tensors are spread over them and computed concurrently; every tensor is
/// computed whole on one device, so the output does not depend on how many there are.</summary>
public sealed class MergeExecutor
{
    /// <summary>Elements per chunk in which a tensor is computed and written.</summary>
    public const int OutputChunkElements = ShardOutput.ChunkElements;

    private readonly IMergeKernels[] _devices;
    private readonly ILogger _logger;

    /// <summary>An executor on the one device <paramref name="kernels"/> (owned by the caller).</summary>
    public MergeExecutor(IMergeKernels kernels, ILogger<MergeExecutor>? logger = null)
        : this([kernels], logger)
    {
    }

    /// <summary>An executor spreading tensors over <paramref name="devices"/> (owned by the caller).</summary>
    public MergeExecutor(IReadOnlyList<IMergeKernels> devices, ILogger<MergeExecutor>? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfZero(devices.Count);
        _devices = devices.ToArray();
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    /// <summary>Plans and runs <paramref name="config"/> into <see cref="MergeRunOptions.OutputPath"/>, writing the model
    /// (safetensors shards and index, config, tokenizer files, a model card) and its merge report; the output appears
    /// only when complete. <paramref name="progress"/> hears of each tensor written.</summary>
    /// <exception cref="MergeConfigException">The config asks for something its models cannot give (a missing tensor,
    /// mismatched shapes, a missing parameter).</exception>
    /// <exception cref="Core.EngineException">The output exists and <see cref="MergeRunOptions.Overwrite"/> is not set, or an input cannot be read.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled; no output is left.</exception>
    public MergeResult Run(MergeConfig config, MergeRunOptions options, IProgress<MergeProgress>? progress = null, CancellationToken cancellation = default) =>
        Run(config, options, null, progress, cancellation);

    /// <summary>Runs with every stage's method replaced (benchmarks measure the I/O floor this way).</summary>
    public MergeResult Run(MergeConfig config, MergeRunOptions options, Func<MergeDocument, IMergeMethod>? methodOverride,
        IProgress<MergeProgress>? progress, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        string outPath = OutputPaths.Resolve(options.OutputPath);
        // Before any work, so that a second merge into the same output fails at once, not after computing it all.
        using var outputLock = OutputLock.Acquire(outPath);
        AtomicDirectory.CheckTarget(outPath, options.Overwrite);
        using var plan = MergePlan.Create(config, methodOverride);
        var trace = options.Trace;
        var traced = trace is null ? [] : _devices.Select(d => new TracingMergeKernels(d, trace)).ToArray();
        IMergeKernels[] devices = trace is null ? _devices : traced;
        var keepTargets = options.KeepIntermediatesPath is { } keepRoot
            ? plan.Stages.Take(plan.Stages.Length - 1).ToDictionary(s => s, s => OutputPaths.Resolve(Path.Combine(keepRoot, s.Document.Name!)))
            : [];
        foreach (var target in keepTargets.Values.Prepend(outPath)) OutputPaths.CheckNoOverlap(target, plan.Models.Select(m => m.Path));
        // A sliced stage reads an earlier stage's layers in its own order, some twice and some never: the
        // earlier stage's tensors are then not each computed once, as writing it whole needs.
        if (keepTargets.Count > 0 && plan.Stages.FirstOrDefault(s => s.Slices != null && s.Inputs.Any(i => i is InputRef.Stage)) is { } sliced)
            throw new MergeConfigException($"{config.Path}: --keep-intermediates cannot write the stages that sliced stage '{sliced.Label}' reads; run those stages as a config of their own");
        foreach (var w in config.Warnings) _logger.LogWarning("{Warning}", w);

        var tensors = plan.PlanTensors(plan.Output);
        var shardOptions = new ShardWriterOptions(options.MaxShardBytes, options.Overwrite);
        var keep = new Dictionary<MergeStage, ShardWriter>();
        ShardWriter? writer = null;
        var keepLocks = new List<OutputLock>();
        try
        {
            foreach (var target in keepTargets.Values) keepLocks.Add(OutputLock.Acquire(target));
            foreach (var (stage, target) in keepTargets)
                keep[stage] = ShardWriter.Create(target, plan.PlanTensors(stage).Select(t => t.Spec).ToList(), shardOptions);
            writer = ShardWriter.Create(outPath, tensors.Select(t => t.Spec).ToList(), shardOptions);

            var run = new TensorRun(plan, tensors, writer, keep, trace, progress);
            run.Execute(devices, cancellation);

            foreach (var (stage, stageWriter) in keep)
            {
                WriteSideFiles(stageWriter, plan, stage, config, null);
            }
            var report = BuildReport(_devices, plan, config, outPath, tensors, run.Entries.Select(e => e!).ToArray(), run.Written, clock.Elapsed);
            WriteSideFiles(writer, plan, plan.Output, config, report);
            // Every input read so far was checked as it was read; this catches a change after the last read.
            foreach (var shard in plan.Models.SelectMany(m => m.Shards)) shard.CheckUnchanged();
            // Commit flushes every shard to disk: often the run's longest write, so it is traced as one.
            using (trace.Span("commit (flush to disk)", "write"))
            {
                foreach (var stageWriter in keep.Values) stageWriter.Commit();
                writer.Commit();
            }
            return new MergeResult(outPath, report);
        }
        finally
        {
            writer?.Dispose();
            foreach (var w in keep.Values) w.Dispose();
            foreach (var l in keepLocks) l.Dispose();
            foreach (var t in traced) t.Dispose();
        }
    }

    /// <summary>One run's tensor loop: workers (one per device) claim tensors in order, prefetch the inputs of
    /// the tensor they will likely take next, compute, and record the tensor's report entry in its slot.</summary>
    private sealed class TensorRun(MergePlan plan, IReadOnlyList<PlannedTensor> tensors, ShardWriter writer,
        Dictionary<MergeStage, ShardWriter> keep, ProfileTrace? trace, IProgress<MergeProgress>? progress)
    {
        private readonly Lock _progressGate = new();
        private int _next;
        private int _done;

        /// <summary>The report entry of every tensor, in plan order.</summary>
        public TensorReport?[] Entries { get; } = new TensorReport?[tensors.Count];

        public long Written { get; private set; }

        public void Execute(IMergeKernels[] devices, CancellationToken cancellation) => DeviceWorkers.Run(devices, Work, cancellation);

        /// <summary>Computes tensors on one device until none is left. <paramref name="device"/> is the
        /// device's index in the report (-1: a single device, not reported per tensor).</summary>
        private void Work(IMergeKernels kernels, int device, int stride, CancellationToken cancellation)
        {
            Task prefetch = Task.CompletedTask;
            using var scratch = new ScratchArena();
            try
            {
                for (int i = Interlocked.Increment(ref _next) - 1; i < tensors.Count; i = Interlocked.Increment(ref _next) - 1)
                {
                    cancellation.ThrowIfCancellationRequested();
                    var tensor = tensors[i];
                    prefetch.Wait(cancellation);
                    if (i + stride < tensors.Count)
                    {
                        var upcoming = tensors[i + stride].Name;
                        prefetch = Task.Run(() =>
                        {
                            using var span = trace.Span("read", "read", upcoming);
                            InputPrefetcher.Touch(plan.Reads(plan.Output, upcoming), cancellation);
                        });
                    }
                    Entries[i] = Compute(tensor, kernels, device, scratch, cancellation);
                    lock (_progressGate)
                    {
                        Written += tensor.Spec.ByteLength;
                        progress?.Report(new MergeProgress(++_done, tensors.Count, tensor.Name, Written));
                    }
                }
            }
            finally
            {
                // The prefetcher reads through the plan's file handles: let it finish before the plan closes them.
                try { prefetch.Wait(); } catch (AggregateException) { }
            }
        }

        private TensorReport Compute(PlannedTensor tensor, IMergeKernels kernels, int device, ScratchArena scratch, CancellationToken cancellation)
        {
            var tick = Stopwatch.GetTimestamp();
            var stageReports = new List<TensorStageReport>();
            using (trace.Span(tensor.Name, "tensor"))
            using (var scope = new TensorScope(trace, scratch))
            using (var output = new ShardOutput(writer, tensor.Name, tensor.DType, TensorElements(tensor.Shape), trace, scratch))
            {
                Evaluate(plan, plan.Output, tensor, output, scope, keep, stageReports, kernels, cancellation);
            }
            return new TensorReport(tensor.Name, tensor.DType.SafetensorsName(), tensor.Shape.ToArray(),
                Math.Round(Stopwatch.GetElapsedTime(tick).TotalMilliseconds, 3), stageReports)
            {
                Device = device >= 0 ? device : null,
                Notes = tensor.Notes.Length > 0 ? tensor.Notes.ToArray() : null,
            };
        }
    }

    /// <summary>Computes <paramref name="tensor"/> for <paramref name="stage"/> into <paramref name="output"/>,
    /// evaluating earlier stages it depends on first.</summary>
    internal static void Evaluate(MergePlan plan, MergeStage stage, PlannedTensor tensor, ITensorOutput output, TensorScope scope,
        Dictionary<MergeStage, ShardWriter> keep, List<TensorStageReport> reports, IMergeKernels kernels, CancellationToken cancellation)
    {
        var shape = plan.Shape(stage, tensor.Name, null);
        long elements = TensorElements(shape);
        var recipe = stage.Recipe(tensor.Name);
        bool rebuildRows = stage.Vocabulary is { Reorders: true } && MergePlan.IsVocabTensor(tensor.Name);
        var inputs = new List<(InputRef Ref, RawTensor Tensor)>();
        foreach (var input in recipe.Inputs)
        {
            RawTensor raw = input.Input switch
            {
                InputRef.Model m => scope.Read(m.Directory, input.Tensor),
                InputRef.Stage s => scope.Cached(s.Node, input.Tensor, reports,
                    () => EvaluateIntermediate(plan, s.Node, tensor with { Name = input.Tensor }, scope, keep, reports, kernels, cancellation)),
                _ => throw new InvalidOperationException(),
            };
            if (!rebuildRows) raw = raw.Prefix(elements);
            if (stage.Document.DType is { } cast && raw.DType.IsMathType() && raw.DType != cast) raw = scope.Convert(raw, cast);
            inputs.Add((input.Input, raw));
        }
        if (rebuildRows)
        {
            var rebuilt = stage.Vocabulary!.Rebuild(inputs, shape[1], scope);
            inputs = inputs.Select((x, i) => (x.Ref, rebuilt[i])).ToList();
        }

        var first = inputs[0].Tensor;
        if (!first.DType.IsMathType())
        {
            // Integer and boolean buffers are not merged: they come from the base (or first) model as stored.
            output.Fill((chunk, start) => first.Bytes(start, (int)chunk.Length).CopyTo(chunk.WritableBytes(0, (int)chunk.Length)), cancellation);
            reports.Add(new TensorStageReport(stage.Label, "copy") { Note = $"{first.DType} tensor copied from the base" });
            return;
        }

        if (stage.Method is not ArceeFusion)
        {
            // Arcee Fusion's kernel checks its inputs as it reads them; every other method is checked here.
            foreach (var (input, raw) in inputs)
            {
                long bad = FiniteCheck.FirstNonFinite(raw, Environment.ProcessorCount);
                if (bad >= 0) throw new EngineException($"tensor '{tensor.Name}' of model '{input.Label}' holds NaN or infinity at element {bad}");
            }
        }

        int offset = recipe.Base is null ? 0 : 1;
        // A batch's kept GPU importance holds the device buffers every other method's kernels use.
        if (stage.Method is not ArceeFusion) scope.Shared?.ReleaseDeviceImportance();
        var merge = new TensorMergeInputs(
            tensor.Name, shape,
            recipe.Base is null ? null : inputs[0].Tensor,
            recipe.Others.Select((o, i) => (inputs[offset + i].Tensor, o.Parameters)).ToImmutableArray(),
            recipe.Document, recipe.LayerPosition)
        {
            Scratch = scope.Scratch,
            Shared = scope.Shared,
            ImportanceKey = scope.Shared?.ImportanceKey(stage, tensor.Name),
        };
        JsonObject stats;
        try
        {
            stats = stage.Method.Merge(merge, output, kernels, cancellation);
        }
        catch (NonFiniteValueException e)
        {
            var culprit = e.Which == "base" ? inputs[0].Ref : inputs[offset].Ref;
            throw new EngineException($"tensor '{tensor.Name}' of model '{culprit.Label}' holds NaN or infinity at element {e.Element}");
        }
        if (recipe.Slice >= 0)
            stats["sources"] = new JsonArray(recipe.Inputs.Select(i => (JsonNode)$"{i.Input.Label}:{i.Tensor}").ToArray());
        reports.Add(TensorStageReport.From(stage.Label, stage.Method.Name, stats));
    }

    private static RawTensor EvaluateIntermediate(MergePlan plan, MergeStage stage, PlannedTensor tensor, TensorScope scope,
        Dictionary<MergeStage, ShardWriter> keep, List<TensorStageReport> reports, IMergeKernels kernels, CancellationToken cancellation)
    {
        var shape = plan.Shape(stage, tensor.Name, null);
        var memory = scope.OwnResult(stage, new MemoryOutput(tensor.DType.IsMathType() ? stage.OutDType : tensor.DType, TensorElements(shape)));
        Evaluate(plan, stage, tensor, memory, scope, keep, reports, kernels, cancellation);
        if (keep.TryGetValue(stage, out var writer))
        {
            for (long at = 0; at < memory.Buffer.Length; at += int.MaxValue / 2)
                writer.WriteTensor(tensor.Name, memory.Buffer.Slice(at, (int)Math.Min(int.MaxValue / 2, memory.Buffer.Length - at)), at);
        }
        return memory.Tensor;
    }

    private static long TensorElements(ImmutableArray<long> shape) => Core.Safetensors.TensorInfo.ElementCountOf(shape);

    internal static void WriteSideFiles(ShardWriter writer, MergePlan plan, MergeStage stage, MergeConfig config, MergeReport? report)
    {
        var primary = stage.Primary;
        if (primary.Config is { } modelConfig)
        {
            var json = modelConfig.WithDType(stage.OutDType);
            if (stage.OutputLayers is { } layers) json = stage.Layout.WithLayerCount(json, layers);
            if (stage.Vocabulary is { Reorders: true } vocabulary)
            {
                var scope = stage.Layout.CountKey.Length > 1 && json[stage.Layout.CountKey[0]] is JsonObject inner ? inner : json;
                scope["vocab_size"] = vocabulary.Rows;
            }
            writer.WriteFile("config.json", Encoding.UTF8.GetBytes(json.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));
        }

        var tokenizerModel = primary;
        if (stage.Document.TokenizerSource is { } source and not "base" and not "union")
        {
            var match = plan.Stages.SelectMany(s => s.Inputs).FirstOrDefault(i => i.Label == source)
                ?? throw new MergeConfigException($"{config.Path}: tokenizer_source '{source}' is not one of the merge's models");
            tokenizerModel = match is InputRef.Model m ? m.Directory : ((InputRef.Stage)match).Node.Primary;
        }
        var reserved = new HashSet<string>(StringComparer.Ordinal) { "README.md", MergeReport.FileName, "mergekit_config.yml" };
        var (generated, skipped) = TokenizerFiles.Build(config.Path, stage, tokenizerModel);
        foreach (var file in tokenizerModel.OtherFiles.Where(f => IsTokenizerFile(f) && !reserved.Contains(f) && !generated.ContainsKey(f) && !skipped.Contains(f)))
            writer.CopyFile(Path.Combine(tokenizerModel.Path, file), file);
        foreach (var (file, bytes) in generated) writer.WriteFile(file, bytes);
        foreach (var file in primary.OtherFiles.Where(f => !IsTokenizerFile(f) && !reserved.Contains(f)))
            writer.CopyFile(Path.Combine(primary.Path, file), file);

        writer.WriteFile("mergekit_config.yml", Encoding.UTF8.GetBytes(config.Text));
        writer.WriteFile("README.md", Encoding.UTF8.GetBytes(ModelCard.Render(plan, stage, config)));
        if (report != null) writer.WriteFile(MergeReport.FileName, Encoding.UTF8.GetBytes(report.ToJsonText()));
    }

    private static bool IsTokenizerFile(string name) =>
        name.StartsWith("tokenizer", StringComparison.Ordinal) || name is "vocab.json" or "merges.txt" or "special_tokens_map.json"
            or "added_tokens.json" or "vocab.txt" or "spiece.model" or "chat_template.jinja" or "chat_template.json";

    internal static MergeReport BuildReport(IReadOnlyList<IMergeKernels> devices, MergePlan plan, MergeConfig config, string outPath, IReadOnlyList<PlannedTensor> tensors, TensorReport[] entries, long written, TimeSpan elapsed)
    {
        long elements = 0, kept = 0;
        foreach (var entry in entries)
        {
            if (entry.Stages.LastOrDefault() is { Kept: { } k, Elements: { } n })
            {
                kept += k;
                elements += n;
            }
        }
        var stages = plan.Stages.Select(s => new MergeStageSummary(s.Label, s.Method.Name, s.Base?.Label, s.Others.Select(o => o.Input.Label).ToArray(),
            s.OutDType.TorchName(), s.Document.ComputePrecision.ToString().ToLowerInvariant(), s.Document.Quantiles.ToString().ToLowerInvariant())).ToArray();
        var totals = new MergeTotals(tensors.Count, written, elements, elements == 0 ? 0 : (double)kept / elements, Math.Round(elapsed.TotalSeconds, 3));
        return new MergeReport(typeof(MergeExecutor).Assembly.GetName().Version?.ToString(), Path.GetFullPath(config.Path), outPath,
            devices.Count == 1 ? devices[0].Device : $"{devices.Count} devices", devices.Select(d => d.Device).ToArray(), stages,
            config.Warnings.ToArray(), totals, entries);
    }
}
