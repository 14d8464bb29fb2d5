using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Numerics;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary><c>engine bench io</c>: reading and converting a checkpoint's tensors to float32 through the
/// merge's read path (positional reads into memory), against a plain memory copy of the bytes read, both in one run.</summary>
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
                var report = Measure(path, threads, reps);
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

    public static unsafe JsonObject Measure(string path, int threads, int repeat)
    {
        using var model = ModelDirectory.Open(path);
        var tensors = model.Tensors.Where(t => t.Info.DType.IsMathType() && t.Info.ByteLength > 0).ToList();
        long bytes = tensors.Sum(t => t.Info.ByteLength);
        const int chunk = 1 << 20;
        var copies = Enumerable.Range(0, threads).Select(_ => new byte[chunk * 4]).ToArray();
        var floats = Enumerable.Range(0, threads).Select(_ => new float[chunk]).ToArray();

        double Run(bool convert)
        {
            var clock = Stopwatch.StartNew();
            foreach (var t in tensors)
            {
                using var view = t.Read();
                var raw = new RawTensor(view.Pointer, t.Info.DType, t.Info.ElementCount);
                long chunks = (raw.Length + chunk - 1) / chunk;
                Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, w =>
                {
                    for (long c = w; c < chunks; c += threads)
                    {
                        int n = (int)Math.Min(chunk, raw.Length - c * chunk);
                        if (convert) raw.ReadSingles(c * chunk, floats[w].AsSpan(0, n));
                        else raw.Bytes(c * chunk, n).CopyTo(copies[w]);
                    }
                });
            }
            return clock.Elapsed.TotalSeconds;
        }

        Run(false);
        Run(true);
        var copy = new List<double>();
        var conv = new List<double>();
        for (int r = 0; r < repeat; r++)
        {
            copy.Add(Run(false));
            conv.Add(Run(true));
        }
        double copyS = Median(copy), convS = Median(conv);
        return new JsonObject
        {
            ["model"] = model.Path,
            ["tensors"] = tensors.Count,
            ["bytes"] = bytes,
            ["threads"] = threads,
            ["repeat"] = repeat,
            ["copy_seconds"] = Math.Round(copyS, 4),
            ["convert_seconds"] = Math.Round(convS, 4),
            ["copy_gb_s"] = Math.Round(bytes / copyS / 1e9, 2),
            ["convert_gb_s"] = Math.Round(bytes / convS / 1e9, 2),
            ["ratio"] = Math.Round(convS / copyS, 3),
        };
    }

    public static double Median(List<double> values)
    {
        var s = values.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }
}
