using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Kernels;
using Engine.Kernels.Cuda;
using Engine.Merge.Benchmarks;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary><c>engine bench kernels</c>: parses the options and prints <see cref="KernelBenchmark"/>'s rows: per kernel
/// and backend the median time after a warm-up, GB/s, and the fraction of a copy bandwidth measured in the same run
/// (host memcpy for calls through the kernel contract, which include every host/device transfer; device-to-device
/// copy for the CUDA kernels on device-resident data).</summary>
public static class BenchKernelsCommand
{
    private const int RowLength = KernelBenchmark.RowLength;
    private const long SimulatorElements = 8 * RowLength;

    public static Command Create()
    {
        var device = new Option<string>("--device") { Description = "all | " + KernelBackends.Description + " (all: every available backend except the simulator)", DefaultValueFactory = _ => "all" };
        var elements = new Option<long>("--elements") { Description = $"elements per tensor (bf16 inputs, rows of {RowLength}); ilgpu-cpu is capped at {SimulatorElements}", DefaultValueFactory = _ => 64L << 20 };
        var repeat = new Option<int>("--repeat") { Description = "timed repetitions after one warm-up (median reported)", DefaultValueFactory = _ => 5 };
        var quantiles = new Option<long>("--quantile-elements") { Description = "CUDA only: also time exact Q25/Q50/Q75 of this many device-resident floats (779000000: Qwen-32B's embedding)", DefaultValueFactory = _ => 0 };
        var threads = new Option<int>("--threads") { Description = "CPU worker threads (0 = all cores)", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "print a machine-readable JSON report on stdout" };
        var command = new Command("kernels", "merge kernel time and GB/s per backend, against a copy bandwidth measured in the same run") { device, elements, repeat, quantiles, threads, json };
        command.SetAction((parse, cancellation) => EngineCli.Guard(() =>
        {
            if (parse.GetValue(elements) < 1) throw new EngineException($"--elements must be at least 1, got {parse.GetValue(elements)}");
            if (parse.GetValue(repeat) < 1) throw new EngineException($"--repeat must be at least 1, got {parse.GetValue(repeat)}");
            if (parse.GetValue(quantiles) < 0) throw new EngineException($"--quantile-elements must be 0 (off) or positive, got {parse.GetValue(quantiles)}");
            if (parse.GetValue(threads) < 0) throw new EngineException($"--threads {parse.GetValue(threads)} must be 0 (all cores) or positive");
            string d = parse.GetValue(device)!.Trim().ToLowerInvariant();
            var devices = d == "all" ? KernelBackends.Available(includeSimulator: false) : [d];
            long n = Math.Max(RowLength, parse.GetValue(elements) / RowLength * RowLength);
            int r = parse.GetValue(repeat);
            var report = new JsonObject { ["row_length"] = RowLength, ["repeat"] = r, ["machine_cores"] = Environment.ProcessorCount };
            var rows = new JsonArray();
            foreach (var name in devices)
            {
                cancellation.ThrowIfCancellationRequested();
                using var kernels = KernelBackends.Create(name, parse.GetValue(threads));
                long count = name == "ilgpu-cpu" ? Math.Min(n, SimulatorElements) : n;
                var measured = KernelBenchmark.Measure(kernels, count, r);
                if (kernels is CudaMergeKernels cuda && parse.GetValue(quantiles) > 0) measured.Add(KernelBenchmark.MeasureQuantiles(cuda, parse.GetValue(quantiles), r));
                foreach (var row in measured)
                {
                    var json = Row(row);
                    json["backend"] = name;
                    rows.Add(json);
                }
                if (!parse.GetValue(json)) AnsiConsole.MarkupLine(Markup.Escape($"{name}: {kernels.Device}"));
            }
            report["results"] = rows;
            if (parse.GetValue(json)) Console.Out.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else Print(rows);
            return Task.FromResult(0);
        }));
        return command;
    }

    private static JsonObject Row(KernelBenchRow row) => new()
    {
        ["device"] = row.Device,
        ["kernel"] = row.Kernel,
        ["scope"] = row.Scope,
        ["elements"] = row.Elements,
        ["median_ms"] = Math.Round(row.MedianSeconds * 1e3, 4),
        ["bytes"] = row.Bytes,
        ["gb_per_s"] = Math.Round(row.BytesPerSecond / 1e9, 2),
        ["fraction_of_copy"] = row.FractionOfCopy is { } f ? Math.Round(f, 3) : null,
    };

    private static void Print(JsonArray rows)
    {
        var table = new Table().AddColumns("backend", "kernel", "scope", "elements", "median ms", "GB/s", "of copy");
        foreach (var row in rows)
        {
            table.AddRow(Markup.Escape(row!["backend"]!.ToString()), Markup.Escape(row["kernel"]!.ToString()), row["scope"]!.ToString(), $"{row["elements"]!.GetValue<long>():N0}",
                row["median_ms"]!.ToString(), row["gb_per_s"]!.ToString(), row["fraction_of_copy"] is { } f ? $"{f.GetValue<double>():P0}" : "-");
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("end-to-end: through IMergeKernels from host memory (includes host/device transfers); device-resident: the CUDA or ILGPU kernels alone, against a device-to-device copy");
    }
}
