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
    public bool Overwrite { get; init; }
    public long MaxShardBytes { get; init; } = ShardWriterOptions.DefaultMaxShardBytes;

    /// <summary>When set, every named intermediate stage is also written as a model directory here.</summary>
    public string? KeepIntermediatesPath { get; init; }

    /// <summary>When set, the run records its stages (read, convert, upload, kernel, download, write) here.</summary>
    public PipelineTrace? Trace { get; init; }
}

/// <summary>Progress of a merge: tensors done out of the total, and the tensor just finished.</summary>
public sealed record MergeProgress(int Done, int Total, string Tensor, long BytesWritten);

/// <summary>The outcome of a merge: where it went and the report written beside it.</summary>
public sealed record MergeResult(string OutputPath, JsonObject Report);

/// <summary>Runs a merge plan tensor by tensor in one streaming pass: each output tensor is computed through
/// every stage (intermediate results stay in memory, in their stage's dtype, and are dropped after the
/// tensor) and streamed into its shard. Memory is bounded by a few tensors, never by the model; the output
/// appears at its path only when complete.</summary>
public sealed class MergeExecutor
{
    private readonly IMergeKernels _kernels;
    private readonly ILogger _logger;

    public MergeExecutor(IMergeKernels kernels, ILogger<MergeExecutor>? logger = null)
    {
        _kernels = kernels;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    public MergeResult Run(MergeConfig config, MergeRunOptions options, IProgress<MergeProgress>? progress = null, CancellationToken cancellation = default) =>
        Run(config, options, null, progress, cancellation);

    /// <summary>Runs with every stage's method replaced (benchmarks measure the I/O floor this way).</summary>
    public MergeResult Run(MergeConfig config, MergeRunOptions options, Func<MergeDocument, IMergeMethod>? methodOverride,
        IProgress<MergeProgress>? progress, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        string outPath = Path.GetFullPath(options.OutputPath);
        AtomicDirectory.CheckTarget(outPath, options.Overwrite);
        using var plan = MergePlan.Create(config, methodOverride);
        var trace = options.Trace;
        using var traced = trace is null ? null : new TracingMergeKernels(_kernels, trace);
        IMergeKernels kernels = traced ?? _kernels;
        CheckNoOverlap(plan, outPath);
        foreach (var w in config.Warnings) _logger.LogWarning("{Warning}", w);

        var tensors = plan.PlanTensors(plan.Output);
        var shardOptions = new ShardWriterOptions(options.MaxShardBytes, options.Overwrite);
        var keep = new Dictionary<MergeStage, ShardWriter>();
        ShardWriter? writer = null;
        Task prefetch = Task.CompletedTask;
        try
        {
            if (options.KeepIntermediatesPath is { } keepPath)
            {
                foreach (var stage in plan.Stages.Take(plan.Stages.Length - 1))
                    keep[stage] = ShardWriter.Create(Path.Combine(keepPath, stage.Document.Name!), plan.PlanTensors(stage).Select(t => t.Spec).ToList(), shardOptions);
            }
            writer = ShardWriter.Create(outPath, tensors.Select(t => t.Spec).ToList(), shardOptions);

            var reports = new JsonArray();
            long written = 0;
            for (int i = 0; i < tensors.Count; i++)
            {
                cancellation.ThrowIfCancellationRequested();
                var tensor = tensors[i];
                prefetch.Wait();
                if (i + 1 < tensors.Count)
                {
                    var next = tensors[i + 1].Name;
                    prefetch = Task.Run(() =>
                    {
                        using var span = trace.Span("read", "read", next);
                        InputPrefetcher.Touch(plan.Models, next, cancellation);
                    });
                }
                var tick = Stopwatch.GetTimestamp();
                var stageReports = new JsonArray();
                using (trace.Span(tensor.Name, "tensor"))
                using (var scope = new TensorScope(trace))
                using (var output = new ShardOutput(writer, tensor.Name, tensor.DType, TensorElements(tensor.Shape), trace))
                {
                    Evaluate(plan, plan.Output, tensor, output, scope, keep, stageReports, kernels, cancellation);
                }
                written += tensor.Spec.ByteLength;
                var entry = new JsonObject
                {
                    ["name"] = tensor.Name,
                    ["dtype"] = tensor.DType.SafetensorsName(),
                    ["shape"] = new JsonArray(tensor.Shape.Select(d => (JsonNode)d).ToArray()),
                    ["time_ms"] = Math.Round(Stopwatch.GetElapsedTime(tick).TotalMilliseconds, 3),
                    ["stages"] = stageReports,
                };
                if (tensor.Notes.Length > 0) entry["notes"] = new JsonArray(tensor.Notes.Select(n => (JsonNode)n).ToArray());
                reports.Add(entry);
                progress?.Report(new MergeProgress(i + 1, tensors.Count, tensor.Name, written));
            }

            foreach (var (stage, stageWriter) in keep)
            {
                WriteSideFiles(stageWriter, plan, stage, config, null);
            }
            var report = BuildReport(plan, config, outPath, tensors, reports, written, clock.Elapsed);
            WriteSideFiles(writer, plan, plan.Output, config, report);
            foreach (var stageWriter in keep.Values) stageWriter.Commit();
            writer.Commit();
            return new MergeResult(outPath, report);
        }
        finally
        {
            // The prefetcher reads mapped inputs: let it finish before the plan unmaps them.
            try { prefetch.Wait(); } catch (AggregateException) { }
            writer?.Dispose();
            foreach (var w in keep.Values) w.Dispose();
        }
    }

    /// <summary>Computes <paramref name="tensor"/> for <paramref name="stage"/> into <paramref name="output"/>,
    /// evaluating earlier stages it depends on first.</summary>
    private void Evaluate(MergePlan plan, MergeStage stage, PlannedTensor tensor, ITensorOutput output, TensorScope scope,
        Dictionary<MergeStage, ShardWriter> keep, JsonArray reports, IMergeKernels kernels, CancellationToken cancellation)
    {
        var shape = plan.Shape(stage, tensor.Name, null);
        long elements = TensorElements(shape);
        var inputs = new List<(InputRef Ref, RawTensor Tensor)>();
        foreach (var input in stage.Inputs)
        {
            RawTensor raw = input switch
            {
                InputRef.Model m => scope.Map(m.Directory.GetTensor(tensor.Name)),
                InputRef.Stage s => scope.Cached(s.Node, () => EvaluateIntermediate(plan, s.Node, tensor, scope, keep, reports, kernels, cancellation)),
                _ => throw new InvalidOperationException(),
            };
            raw = raw.Prefix(elements);
            if (stage.Document.DType is { } cast && raw.DType.IsMathType() && raw.DType != cast) raw = scope.Convert(raw, cast);
            inputs.Add((input, raw));
        }

        var first = inputs[0].Tensor;
        if (!first.DType.IsMathType())
        {
            // Integer and boolean buffers are not merged: they come from the base (or first) model as stored.
            output.Fill((chunk, start) => first.Bytes(start, (int)chunk.Length).CopyTo(chunk.WritableBytes(0, (int)chunk.Length)), cancellation);
            reports.Add(new JsonObject { ["stage"] = stage.Label, ["method"] = "copy", ["note"] = $"{first.DType} tensor copied from the base" });
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

        int offset = stage.Base is null ? 0 : 1;
        var merge = new TensorMergeInputs(
            tensor.Name, shape,
            stage.Base is null ? null : inputs[0].Tensor,
            stage.Others.Select((o, i) => (inputs[offset + i].Tensor, o.Parameters)).ToImmutableArray(),
            stage.Document, tensor.LayerPosition);
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
        var entry = new JsonObject { ["stage"] = stage.Label, ["method"] = stage.Method.Name };
        foreach (var (k, v) in stats) entry[k] = v?.DeepClone();
        reports.Add(entry);
    }

    private RawTensor EvaluateIntermediate(MergePlan plan, MergeStage stage, PlannedTensor tensor, TensorScope scope,
        Dictionary<MergeStage, ShardWriter> keep, JsonArray reports, IMergeKernels kernels, CancellationToken cancellation)
    {
        var shape = plan.Shape(stage, tensor.Name, null);
        var memory = scope.Own(new MemoryOutput(tensor.DType.IsMathType() ? stage.OutDType : tensor.DType, TensorElements(shape)));
        Evaluate(plan, stage, tensor, memory, scope, keep, reports, kernels, cancellation);
        if (keep.TryGetValue(stage, out var writer))
        {
            for (long at = 0; at < memory.Buffer.Length; at += int.MaxValue / 2)
                writer.WriteTensor(tensor.Name, memory.Buffer.Slice(at, (int)Math.Min(int.MaxValue / 2, memory.Buffer.Length - at)), at);
        }
        return memory.Tensor;
    }

    private static long TensorElements(ImmutableArray<long> shape) => Core.Safetensors.TensorInfo.ElementCountOf(shape);

    private static void CheckNoOverlap(MergePlan plan, string outPath)
    {
        foreach (var model in plan.Models)
        {
            string input = model.Path.TrimEnd('/');
            if (input == outPath || input.StartsWith(outPath + "/", StringComparison.Ordinal) || outPath.StartsWith(input + "/", StringComparison.Ordinal))
                throw new OutputException($"{outPath}: output path overlaps input model {model.Path}");
        }
    }

    private void WriteSideFiles(ShardWriter writer, MergePlan plan, MergeStage stage, MergeConfig config, JsonObject? report)
    {
        var primary = stage.Primary;
        if (primary.Config is { } modelConfig)
            writer.WriteFile("config.json", Encoding.UTF8.GetBytes(modelConfig.WithDType(stage.OutDType).ToJsonString(new JsonSerializerOptions { WriteIndented = true })));

        var tokenizerModel = primary;
        if (stage.Document.TokenizerSource is { } source and not "base")
        {
            var match = plan.Stages.SelectMany(s => s.Inputs).FirstOrDefault(i => i.Label == source)
                ?? throw new MergeConfigException($"{config.Path}: tokenizer_source '{source}' is not one of the merge's models");
            tokenizerModel = match is InputRef.Model m ? m.Directory : ((InputRef.Stage)match).Node.Primary;
        }
        var reserved = new HashSet<string>(StringComparer.Ordinal) { "README.md", "merge-report.json", "mergekit_config.yml" };
        foreach (var file in tokenizerModel.OtherFiles.Where(f => IsTokenizerFile(f) && !reserved.Contains(f)))
            writer.CopyFile(Path.Combine(tokenizerModel.Path, file), file);
        foreach (var file in primary.OtherFiles.Where(f => !IsTokenizerFile(f) && !reserved.Contains(f)))
            writer.CopyFile(Path.Combine(primary.Path, file), file);

        writer.WriteFile("mergekit_config.yml", Encoding.UTF8.GetBytes(config.Text));
        writer.WriteFile("README.md", Encoding.UTF8.GetBytes(ModelCard.Render(plan, stage, config)));
        if (report != null) writer.WriteFile("merge-report.json", Encoding.UTF8.GetBytes(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));
    }

    private static bool IsTokenizerFile(string name) =>
        name.StartsWith("tokenizer", StringComparison.Ordinal) || name is "vocab.json" or "merges.txt" or "special_tokens_map.json"
            or "added_tokens.json" or "vocab.txt" or "spiece.model" or "chat_template.jinja" or "chat_template.json";

    private JsonObject BuildReport(MergePlan plan, MergeConfig config, string outPath, IReadOnlyList<PlannedTensor> tensors, JsonArray entries, long written, TimeSpan elapsed)
    {
        long elements = 0, kept = 0;
        foreach (var entry in entries)
        {
            var last = entry!["stages"]!.AsArray().LastOrDefault();
            if (last?["kept"] is { } k && last["elements"] is { } n)
            {
                kept += k.GetValue<long>();
                elements += n.GetValue<long>();
            }
        }
        return new JsonObject
        {
            ["engine"] = typeof(MergeExecutor).Assembly.GetName().Version?.ToString(),
            ["config"] = Path.GetFullPath(config.Path),
            ["output"] = outPath,
            ["device"] = _kernels.Device,
            ["stages"] = new JsonArray(plan.Stages.Select(s => (JsonNode)new JsonObject
            {
                ["name"] = s.Label,
                ["method"] = s.Method.Name,
                ["base"] = s.Base?.Label,
                ["models"] = new JsonArray(s.Others.Select(o => (JsonNode)o.Input.Label).ToArray()),
                ["out_dtype"] = s.OutDType.TorchName(),
                ["compute"] = s.Document.ComputePrecision.ToString().ToLowerInvariant(),
                ["quantiles"] = s.Document.Quantiles.ToString().ToLowerInvariant(),
            }).ToArray()),
            ["warnings"] = new JsonArray(config.Warnings.Select(w => (JsonNode)w).ToArray()),
            ["totals"] = new JsonObject
            {
                ["tensors"] = tensors.Count,
                ["bytes_written"] = written,
                ["merged_elements"] = elements,
                ["kept_fraction"] = elements == 0 ? 0 : (double)kept / elements,
                ["seconds"] = Math.Round(elapsed.TotalSeconds, 3),
            },
            ["tensors"] = entries,
        };
    }
}
