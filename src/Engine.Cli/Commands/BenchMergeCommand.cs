using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Diagnostics;
using Engine.Core.Model;
using Engine.Merge;
using Engine.Merge.Benchmarks;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary><c>engine bench merge</c>: parses the options and prints <see cref="MergeBenchmark"/>'s measurement (a merge,
/// Arcee Fusion of two models or any method with <c>--method</c>, against its I/O floor), and for Arcee Fusion
/// optionally times a per-tensor PyTorch implementation of mergekit's method on the same files and threads
/// (<see cref="MergePeer"/>).</summary>
public static class BenchMergeCommand
{
    public static Command Create(IServiceProvider services)
    {
        var size = new Option<string>("--size")
        {
            Description = "model shape: tiny | 0.5b (Qwen2.5-0.5B, 494M parameters, 1 GB per model) | 32b (Qwen2.5-32B, 64 layers, " +
                "65.5 GB per model: base, expert and output need ~200 GB free; use --layers 4 for 3.5B parameters, 7 GB per model)",
            DefaultValueFactory = _ => "0.5b",
        };
        var layers = new Option<int?>("--layers") { Description = "decoder layers, overriding the size's count (every tensor keeps its shape)" };
        var dir = new Option<string?>("--dir") { Description = "where the generated benchmark models are kept (reused across runs)" };
        var repeat = new Option<int>("--repeat") { Description = "timed repetitions of each side (median reported)", DefaultValueFactory = _ => 3 };
        var peer = new Option<bool>("--peer") { Description = "also time the PyTorch per-tensor mergekit method (arcee_fusion only; needs python3 with torch and numpy)" };
        var method = new Option<string>("--method") { Description = "merge method to time (engine methods lists them)", DefaultValueFactory = _ => "arcee_fusion" };
        var profile = new Option<string?>("--profile") { Description = "after the timed runs, trace one more merge to this Chrome/Perfetto file and report each stage's busy time and the stage the merge is bound by" };
        var sweep = new Option<int?>("--sweep") { Description = "instead: time N Arcee Fusion lambdas (1.0, 1.5, ...) over the same pair in one batch against one merge" };
        var options = new CommonOptions();
        var command = new Command("merge", "merge time against the I/O floor (and PyTorch with --peer)") { size, layers, dir, repeat, peer, method, profile, sweep };
        options.AddTo(command);
        command.SetAction((parse, cancellation) => EngineCli.Guard(() =>
        {
            string sizeName = parse.GetValue(size)!.ToLowerInvariant();
            int? layerCount = parse.GetValue(layers);
            var spec = Spec(sizeName, layerCount);
            string defaultDir = layerCount is { } l ? $"{sizeName}-{l}layers" : sizeName;
            string root = Path.GetFullPath(parse.GetValue(dir) ?? Path.Combine(Path.GetTempPath(), "engine-bench", defaultDir));
            int threads = options.Threads(parse) is > 0 and var t ? t : Environment.ProcessorCount;
            string methodName = parse.GetValue(method)!;
            if (parse.GetValue(peer) && methodName != "arcee_fusion") throw new EngineException($"--peer times mergekit's arcee_fusion only, not '{methodName}'");
            string? tracePath = parse.GetValue(profile);
            int repeatCount = parse.GetValue(repeat) >= 1 ? parse.GetValue(repeat) : throw new EngineException($"--repeat must be at least 1, got {parse.GetValue(repeat)}");
            if (parse.GetValue(sweep) is { } lambdas)
            {
                if (lambdas < 1) throw new EngineException($"--sweep {lambdas} must be at least 1 lambda");
                if (methodName != "arcee_fusion" || parse.GetValue(peer) || tracePath != null) throw new EngineException("--sweep times arcee_fusion batches alone: drop --method, --peer and --profile");
                BenchSweepCommand.Run(services, spec, sizeName, root, lambdas, options.Device(parse), threads,
                    repeatCount, parse.GetValue(options.Json), cancellation);
                return Task.FromResult(0);
            }
            var (report, summary) = Measure(services, spec, root, methodName, options.Device(parse), threads, repeatCount, parse.GetValue(peer), tracePath, cancellation);
            report["size"] = sizeName;
            report["layers"] = spec.Layers;
            if (parse.GetValue(options.Json)) Console.Out.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else
            {
                AnsiConsole.MarkupLine(Markup.Escape($"{report["method"]}: {report["elements_per_model"]!.GetValue<long>():N0} elements per model, {threads} threads on {report["device"]}"));
                AnsiConsole.MarkupLine(Markup.Escape($"I/O floor {report["floor_seconds"]} s, merge {report["merge_seconds"]} s: merge/floor = {report["merge_over_floor"]}"));
                if (report["peer_seconds"] is { } ps) AnsiConsole.MarkupLine(Markup.Escape($"PyTorch per-tensor mergekit method {ps} s: speedup {report["speedup_over_peer"]}x ({report["peer"]})"));
                else if (report["peer_error"] is { } pe) AnsiConsole.MarkupLine(Markup.Escape($"peer not run: {pe}"));
                if (summary != null) ProfileView.Print(summary);
            }
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>The model shape <c>--size</c> names, with <c>--layers</c> decoder layers when given.</summary>
    public static SyntheticModelSpec Spec(string size, int? layers)
    {
        var spec = size switch
        {
            "tiny" => SyntheticModelSpec.Tiny,
            "0.5b" => SyntheticModelSpec.Qwen05B,
            "32b" => SyntheticModelSpec.Qwen32B,
            _ => throw new EngineException($"--size '{size}' must be tiny, 0.5b or 32b"),
        };
        return layers switch
        {
            null => spec,
            > 0 and var l => spec with { Layers = l },
            var l => throw new EngineException($"--layers {l} must be a positive layer count"),
        };
    }

    private static (JsonObject Report, TraceSummary? Profile) Measure(IServiceProvider services, SyntheticModelSpec spec, string root, string method, string device,
        int threads, int repeat, bool peer, string? tracePath, CancellationToken cancellation)
    {
        using var kernels = services.GetRequiredService<IMergeKernelsFactory>().Create(device, threads);
        var result = MergeBenchmark.Measure(kernels, spec, root, method, threads, repeat, outputs: peer ? 2 : 1, trace: tracePath != null, cancellation);
        var report = new JsonObject
        {
            ["method"] = result.Method,
            ["device"] = result.Device,
            ["threads"] = result.Threads,
            ["elements_per_model"] = result.ElementsPerModel,
            ["repeat"] = result.Repeat,
            ["floor_seconds"] = Math.Round(result.FloorSeconds, 3),
            ["merge_seconds"] = Math.Round(result.MergeSeconds, 3),
            ["merge_over_floor"] = Math.Round(result.MergeSeconds / result.FloorSeconds, 3),
        };
        TraceSummary? summary = null;
        if (result.Trace is { } trace)
        {
            summary = ProfileView.Write(trace, tracePath!);
            report["profile"] = ProfileView.Json(summary, tracePath!);
        }
        if (peer) RunPeer(report, result.BaseModel, result.Expert, Path.Combine(root, "peer-out.safetensors"), threads, result.MergeSeconds);
        return (report, summary);
    }

    /// <summary>The peer's time (<see cref="MergePeer"/>) into the report, or why it did not run.</summary>
    private static void RunPeer(JsonObject report, string a, string b, string output, int threads, double mergeSeconds)
    {
        var peer = MergePeer.Run(a, b, output, threads);
        if (peer.Seconds is not { } seconds)
        {
            report["peer_error"] = peer.Error ?? "the peer reported no time";
            return;
        }
        report["peer"] = peer.Torch;
        report["peer_seconds"] = Math.Round(seconds, 3);
        report["speedup_over_peer"] = Math.Round(seconds / mergeSeconds, 2);
    }
}
