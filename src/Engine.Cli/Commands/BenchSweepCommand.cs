using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core.Model;
using Engine.Merge;
using Engine.Merge.Benchmarks;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary><c>engine bench merge --sweep N</c>: runs <see cref="SweepBenchmark"/> (N Arcee Fusion lambdas in one batch
/// against one merge of the same pair) and prints it.</summary>
public static class BenchSweepCommand
{
    public static void Run(IServiceProvider services, SyntheticModelSpec spec, string size, string root, int lambdas, string device, int threads, int repeat,
        bool json, CancellationToken cancellation)
    {
        using var kernels = services.GetRequiredService<IMergeKernelsFactory>().Create(device, threads);
        var r = SweepBenchmark.Measure(kernels, spec, root, lambdas, threads, repeat, cancellation);
        var report = new JsonObject
        {
            ["method"] = "arcee_fusion",
            ["size"] = size,
            ["layers"] = spec.Layers,
            ["device"] = r.Device,
            ["threads"] = r.Threads,
            ["elements_per_model"] = r.ElementsPerModel,
            ["repeat"] = r.Repeat,
            ["lambdas"] = new JsonArray(r.Lambdas.Select(l => (JsonNode)l).ToArray()),
            ["single_seconds"] = Math.Round(r.SingleSeconds, 3),
            ["batch_seconds"] = Math.Round(r.BatchSeconds, 3),
            ["batch_over_single"] = Math.Round(r.Ratio, 3),
            ["importances_reused"] = r.Importances,
            ["single_floor_seconds"] = Math.Round(r.SingleFloorSeconds, 3),
            ["batch_floor_seconds"] = Math.Round(r.BatchFloorSeconds, 3),
            ["batch_floor_over_single_floor"] = Math.Round(r.FloorRatio, 3),
            ["batch_over_batch_floor"] = Math.Round(r.BatchOverFloor, 3),
        };
        if (json)
        {
            Console.Out.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return;
        }
        AnsiConsole.MarkupLine(Markup.Escape($"arcee_fusion: {r.ElementsPerModel:N0} elements per model, {r.Threads} threads on {r.Device}"));
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"one merge {r.SingleSeconds:F3} s, batch of {r.Lambdas.Count} lambdas ({string.Join(", ", r.Lambdas)}) {r.BatchSeconds:F3} s: batch/single = {r.Ratio:F3} ({r.Importances} importances reused)")));
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"I/O floors (same reads and writes, no merge math): one merge {r.SingleFloorSeconds:F3} s, batch {r.BatchFloorSeconds:F3} s: floor ratio {r.FloorRatio:F3}; the batch is {r.BatchOverFloor:F2}x its floor")));
    }
}
