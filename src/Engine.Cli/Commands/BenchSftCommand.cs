using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core.Diagnostics;
using Engine.Interop.Cuda;
using Engine.Training;
using Engine.Training.Distributed;
using Engine.Training.Sft;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary><c>engine bench sft</c>: forward+backward tokens/s of the native trainer (float32 on the CPU, bf16 mixed
/// precision with <c>--device cuda</c>) on a Qwen2 of
/// the given shape, and of the same shape in PyTorch (<see cref="BenchSftPeer"/>: on the same threads, or on the
/// GPU with transformers), measured in one run; then a whole training step (forward+backward, gradient
/// synchronisation, AdamW) with its time in collectives, and with <c>--profile</c> one more step with every op timed. Under mpirun, <c>--docs</c> is the global batch, split evenly over the ranks, so
/// <c>mpirun -np 2 engine bench sft --threads 1</c> and <c>engine bench sft --threads 2</c> time the same global
/// batch. Default shape: Qwen2.5-0.5B's layers (hidden 896, 14/2 heads, intermediate 4864) with 2 layers and a
/// 32k vocabulary.</summary>
public static class BenchSftCommand
{
    public static Command Create()
    {
        var hidden = new Option<int>("--hidden") { DefaultValueFactory = _ => 896 };
        var intermediate = new Option<int>("--intermediate") { DefaultValueFactory = _ => 4864 };
        var layers = new Option<int>("--layers") { DefaultValueFactory = _ => 2 };
        var heads = new Option<int>("--heads") { DefaultValueFactory = _ => 14 };
        var kvHeads = new Option<int>("--kv-heads") { DefaultValueFactory = _ => 2 };
        var vocab = new Option<int>("--vocab") { DefaultValueFactory = _ => 32768 };
        var docs = new Option<int>("--docs") { Description = "documents per step (the global batch, split over the ranks under mpirun)", DefaultValueFactory = _ => 2 };
        var zeroStage = new Option<int?>("--zero-stage") { Description = "under mpirun: 0 or 1 (default 1)" };
        var docLen = new Option<int>("--doc-len") { Description = "tokens per document", DefaultValueFactory = _ => 256 };
        var threads = new Option<int>("--threads") { Description = "CPU threads for both (0 = all cores)", DefaultValueFactory = _ => 0 };
        var repeat = new Option<int>("--repeat") { Description = "timed runs after a warm-up; the best counts", DefaultValueFactory = _ => 3 };
        var peer = new Option<bool>("--peer") { Description = "also time PyTorch (needs python3 with torch)" };
        var json = new Option<bool>("--json") { Description = "print a machine-readable JSON report on stdout" };
        var size = new Option<string?>("--size") { Description = "0.5b: Qwen2.5-0.5B's shape (24 layers, hidden 896, 151,936 vocabulary); shape options given beside it override it" };
        var profile = new Option<string?>("--profile")
        {
            Description = "after the timed steps, profile one more step: a Chrome/Perfetto trace of every op (CPU) or kernel (CUDA) to this file, and the slowest five with their share",
        };
        var command = new Command("sft", "native forward+backward tokens/s (and PyTorch's with --peer), in one run")
        {
            hidden, intermediate, layers, heads, kvHeads, vocab, docs, docLen, threads, repeat, peer, json, zeroStage, size, profile,
        };
        var device = new TrainerDeviceOption();
        device.AddTo(command);
        command.SetAction((parse, cancellation) => EngineCli.Guard(() =>
        {
            using var world = TrainingWorld.FromEnvironment();
            return Task.FromResult(RankGuard.Run(world, () =>
            {
                var trainerDevice = device.Resolve(parse, "bench sft", world.LocalRank);
                Qwen2Config config;
                try
                {
                    var preset = Preset(parse.GetValue(size));
                    int Shape(Option<int> option, int fromPreset) => preset != null && parse.GetResult(option) is null or { Implicit: true } ? fromPreset : parse.GetValue(option);
                    config = new Qwen2Config(Shape(vocab, preset?.VocabSize ?? 0), Shape(hidden, preset?.HiddenSize ?? 0), Shape(intermediate, preset?.IntermediateSize ?? 0),
                        Shape(layers, preset?.NumLayers ?? 0), Shape(heads, preset?.NumHeads ?? 0), Shape(kvHeads, preset?.NumKeyValueHeads ?? 0),
                        tieWordEmbeddings: true, rmsNormEps: 1e-6, ropeTheta: 1e6);
                    if (parse.GetValue(docs) < 1 || parse.GetValue(docLen) < 2) throw new ArgumentException("--docs must be >= 1 and --doc-len >= 2");
                    if (parse.GetValue(docs) % world.Size != 0) throw new ArgumentException($"--docs {parse.GetValue(docs)} must be a multiple of the {world.Size} ranks");
                    if (parse.GetValue(zeroStage) is not (null or 0 or 1)) throw new ArgumentException($"--zero-stage must be 0 or 1, got {parse.GetValue(zeroStage)}");
                    if (parse.GetValue(peer) && world.IsDistributed) throw new ArgumentException("--peer times one process; run it without mpirun");
                }
                catch (ArgumentException e)
                {
                    throw new Core.EngineException($"bench sft: {e.Message}");
                }
                int t = parse.GetValue(threads) is > 0 and var n ? n : Math.Max(1, Environment.ProcessorCount / world.LocalSize);
                int r = parse.GetValue(repeat) >= 1 ? parse.GetValue(repeat) : throw new Core.EngineException($"--repeat must be at least 1, got {parse.GetValue(repeat)}");
                // One rank under mpirun on a GPU still goes through NCCL (RankContext), so an explicit stage is kept there.
                int stage = SftOptions.ZeroStageFor(parse.GetValue(zeroStage), world.Size, world.UsesNccl(trainerDevice));
                string? profilePath = parse.GetValue(profile);
                var report = Measure(config, parse.GetValue(docs), parse.GetValue(docLen), t, r, world, stage, trainerDevice, profilePath);
                if (world.Rank != 0) return 0;
                if (parse.GetValue(peer)) BenchSftPeer.Run(report, config, parse.GetValue(docs), parse.GetValue(docLen), t, r, trainerDevice.IsCuda);
                if (parse.GetValue(json))
                {
                    report.Remove("profile_lines");
                    Console.Out.WriteLine(report.ToJsonString());
                }
                else
                {
                    string where = trainerDevice.IsCuda ? trainerDevice.ToString() : $"{t} threads per rank";
                    AnsiConsole.MarkupLine(Markup.Escape($"native: {report["native_tokens_per_s"]} tok/s ({report["native_seconds"]} s per forward+backward of {report["tokens"]} tokens, {report["parameters"]} parameters, {where})"));
                    AnsiConsole.MarkupLine(Markup.Escape($"training step: {report["step_tokens_per_s"]} tok/s ({report["step_seconds"]} s per step of {report["global_tokens"]} tokens on {report["ranks"]} rank(s), zero stage {report["zero_stage"]}; {report["collective_share"]!.GetValue<double>():P1} of it in collectives)"));
                    if (report["mfu"] is { } mfu) AnsiConsole.MarkupLine(Markup.Escape($"MFU: {mfu.GetValue<double>():P1} of the {report["peak_model"]}'s bf16 dense peak ({report["step_tflops_per_s"]} TFLOP/s, {report["gpu"]})"));
                    else AnsiConsole.MarkupLine(Markup.Escape($"model FLOPs: {report["step_tflops_per_s"]} TFLOP/s per step (no MFU: not a GPU in the peak table)"));
                    if (report["peer_tokens_per_s"] is { } p) AnsiConsole.MarkupLine(Markup.Escape($"PyTorch {report["peer"]}: {p} tok/s; native speedup {report["speedup_over_peer"]}x"));
                    else if (report["peer_error"] is { } e) AnsiConsole.MarkupLine(Markup.Escape($"peer not run: {e}"));
                    if (report["peer_step_tokens_per_s"] is { } ps)
                        AnsiConsole.MarkupLine(Markup.Escape($"PyTorch training step: {ps} tok/s; native step speedup {report["step_speedup_over_peer"]}x"));
                    if (report["profile_lines"] is JsonArray lines)
                        foreach (var line in lines) AnsiConsole.MarkupLine(Markup.Escape((string)line!));
                }
                return 0;
            }));
        }));
        return command;
    }

    /// <summary>Times forward+backward over this rank's share of the batch, then whole steps; every rank runs it
    /// (the steps synchronise them) and rank 0's figures are reported.</summary>
    private static JsonObject Measure(Qwen2Config config, int docs, int docLen, int threads, int repeat, TrainingWorld world, int zeroStage,
        TrainerDevice device, string? profilePath)
    {
        using var rank = RankContext.Open(world, device, threads, "bench sft");
        var context = rank.Context;
        using var model = Qwen2Model.Create(context, config);
        var random = new Random(0);
        foreach (var p in model.Parameters)
        {
            bool norm = p.Name.EndsWith("norm.weight", StringComparison.Ordinal);
            var values = new float[p.Count];
            for (int i = 0; i < values.Length; i++) values[i] = norm ? 1f : 0.02f * (float)(random.NextDouble() * 2 - 1) * 1.7320508f;
            model.WriteParameters(values, p.Offset);
        }
        var all = Enumerable.Range(0, docs * docLen).Select(_ => random.Next(config.VocabSize)).ToArray();
        int share = docs / world.Size * docLen;
        var tokens = all.AsSpan(world.Rank * share, share).ToArray();
        var batch = new PackedBatch(tokens, tokens, Enumerable.Repeat(docLen, docs / world.Size).ToArray());
        double scale = 1.0 / (docs * (docLen - 1));
        model.ForwardBackward(batch, scale);
        double best = double.MaxValue;
        for (int i = 0; i < repeat; i++)
        {
            model.ZeroGradients();
            var clock = Stopwatch.StartNew();
            model.ForwardBackward(batch, scale);
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }
        var optimizer = new DataParallelOptimizer(model, world, zeroStage);
        var adamw = new AdamWOptions(1e-5, maxGradNorm: 1.0);
        double Step(long step)
        {
            var clock = Stopwatch.StartNew();
            model.ZeroGradients();
            model.ForwardBackward(batch, scale);
            model.AccumulateGradients();
            optimizer.Step(adamw, step);
            context.Synchronize();  // a GPU queues AdamW: the step ends when its kernels have run
            return clock.Elapsed.TotalSeconds;
        }
        double bestStep = double.MaxValue, collectives = 0;
        for (int i = 0; i <= repeat; i++)
        {
            world.Barrier();
            double before = world.CollectiveSeconds;
            double seconds = Step(i + 1);
            // The first step allocates the optimizer state and the accumulator: a warm-up, not timed.
            if (i == 0 || seconds >= bestStep) continue;
            (bestStep, collectives) = (seconds, world.CollectiveSeconds - before);
        }
        StepProfile? profiled = null;
        if (profilePath != null)
        {
            // One more step with every op timed, apart from the timed ones: timing must not change their figures.
            world.Barrier();
            model.SetProfiling(true);
            var trace = new ProfileTrace();
            long start = trace.NowNanoseconds;
            double seconds;
            using (trace.Begin("training step", "step", $"{tokens.Length} tokens on {device}")) seconds = Step(repeat + 2);
            profiled = StepProfile.Collect(model, seconds, device.ToString(), trace, start);
            if (world.Rank == 0)
            {
                trace.Write(profilePath);
                Console.Error.WriteLine($"engine bench sft: trace of one step ({profiled.Ops.Count} ops) written to {profilePath} (open in ui.perfetto.dev or chrome://tracing)");
            }
        }
        var report = new JsonObject
        {
            ["device"] = device.ToString(),
            ["threads"] = threads,
            ["parameters"] = model.ParameterCount,
            ["tokens"] = tokens.Length,
            ["native_seconds"] = Math.Round(best, 4),
            ["native_tokens_per_s"] = Math.Round(tokens.Length / best, 1),
            ["ranks"] = world.Size,
            ["zero_stage"] = optimizer.ZeroStage,
            ["global_tokens"] = all.Length,
            ["step_seconds"] = Math.Round(bestStep, 4),
            ["step_tokens_per_s"] = Math.Round(all.Length / bestStep, 1),
            ["collective_seconds"] = Math.Round(collectives, 4),
            ["collective_share"] = Math.Round(collectives / bestStep, 4),
        };
        AddUtilisation(report, config, docs, docLen, bestStep, world.Size, device);
        if (profiled != null)
        {
            report["profile"] = profiled.ToJson(profilePath!);
            report["profile_lines"] = new JsonArray(profiled.Describe().Select(l => (JsonNode?)l).ToArray());
        }
        return report;
    }

    /// <summary>The shape <c>--size</c> names (null: none given).</summary>
    private static Qwen2Config? Preset(string? size) => size?.Trim().ToLowerInvariant() switch
    {
        null => null,
        "0.5b" => new Qwen2Config(151936, 896, 4864, 24, 14, 2, tieWordEmbeddings: true, rmsNormEps: 1e-6, ropeTheta: 1e6),
        _ => throw new ArgumentException($"--size '{size}' must be 0.5b"),
    };

    /// <summary>The step's FLOPs (TrainingFlops: 6 x matmul weights x tokens + causal attention) and, on a GPU in
    /// GpuPeakFlops' table, the model FLOPs utilisation of the whole step over every rank's GPU.</summary>
    private static void AddUtilisation(JsonObject report, Qwen2Config config, int docs, int docLen, double stepSeconds, int ranks, TrainerDevice device)
    {
        double flops = TrainingFlops.Step(config, docs, docLen);
        report["step_flops"] = flops;
        report["step_tflops_per_s"] = Math.Round(flops / stepSeconds / 1e12, 2);
        if (!device.IsCuda || CudaLibrary.DeviceName(device.Ordinal) is not { } name) return;
        report["gpu"] = name;
        if (GpuPeakFlops.ForDeviceName(name) is not { } peak) return;
        report["peak_model"] = peak.Model;
        report["mfu"] = Math.Round(TrainingFlops.Utilisation(flops, stepSeconds, peak.Bf16DenseFlops, ranks), 4);
    }
}
