using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Engine.Merge.Benchmarks;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary><c>engine bench io</c>: parses the options and prints <see cref="IoBenchmark"/>'s measurement (reading and
/// converting a checkpoint's tensors against a plain memory copy of the same bytes).</summary>
public static class BenchIoCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "checkpoint to read (default: a generated 0.5B-shaped bf16 model's first 8 layers)" };
        var repeat = new Option<int>("--repeat") { Description = "timed repetitions (median reported)", DefaultValueFactory = _ => 5 };
        var options = new CommonOptions();
        var command = new Command("io", "read+convert throughput against a plain memory copy of the same bytes") { model, repeat };
        options.AddTo(command);
        command.SetAction(parse => EngineCli.Guard(() =>
        {
            int threads = options.Threads(parse) is > 0 and var t ? t : Environment.ProcessorCount;
            int reps = parse.GetValue(repeat) >= 1 ? parse.GetValue(repeat) : throw new EngineException($"--repeat must be at least 1, got {parse.GetValue(repeat)}");
            string? path = parse.GetValue(model);
            string? temporary = null;
            if (path == null)
            {
                temporary = Path.Combine(Path.GetTempPath(), $"engine-bench-io-{Environment.ProcessId}");
                Console.Error.WriteLine($"engine: writing a benchmark checkpoint to {temporary}");
                SyntheticCheckpoint.Write(temporary, SyntheticModelSpec.Qwen05B with { Layers = 8 }, 1, null, overwrite: true);
                path = temporary;
            }
            try
            {
                var report = Report(IoBenchmark.Measure(path, threads, reps));
                if (parse.GetValue(options.Json)) Console.Out.WriteLine(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                else AnsiConsole.MarkupLine(Markup.Escape(
                    $"{report["bytes"]!.GetValue<long>():N0} bytes, {threads} threads: copy {report["copy_gb_s"]} GB/s, read+convert to f32 {report["convert_gb_s"]} GB/s; convert/copy time ratio {report["ratio"]}"));
            }
            finally
            {
                if (temporary != null) Directory.Delete(temporary, recursive: true);
            }
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>The report <c>--json</c> prints.</summary>
    private static JsonObject Report(IoBenchResult r) => new()
    {
        ["model"] = r.Model,
        ["tensors"] = r.Tensors,
        ["bytes"] = r.Bytes,
        ["threads"] = r.Threads,
        ["repeat"] = r.Repeat,
        ["copy_seconds"] = Math.Round(r.CopySeconds, 4),
        ["convert_seconds"] = Math.Round(r.ConvertSeconds, 4),
        ["copy_gb_s"] = Math.Round(r.CopyBytesPerSecond / 1e9, 2),
        ["convert_gb_s"] = Math.Round(r.ConvertBytesPerSecond / 1e9, 2),
        ["ratio"] = Math.Round(r.ConvertSeconds / r.CopySeconds, 3),
    };
}
