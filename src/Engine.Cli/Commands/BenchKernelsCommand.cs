using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Kernels.Cuda;
using Engine.Kernels.Ilgpu;
using Engine.Merge.Execution;
using Engine.Merge.Methods;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary><c>engine bench kernels</c>: per kernel and backend the median time after a warm-up, GB/s, and the
/// fraction of a copy bandwidth measured in the same run (host memcpy for calls through the kernel contract,
/// which include every host/device transfer; device-to-device copy for the CUDA kernels on device-resident data).</summary>
public static class BenchKernelsCommand
{
    private const int RowLength = 5120;
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
                var measured = Measure(kernels, count, r);
                if (kernels is CudaMergeKernels cuda && parse.GetValue(quantiles) > 0) measured.Add(MeasureQuantiles(cuda, parse.GetValue(quantiles), r));
                foreach (var row in measured)
                {
                    row["backend"] = name;
                    rows.Add(row);
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

    private static unsafe List<JsonObject> Measure(IMergeKernels kernels, long n, int repeat)
    {
        long rowsCount = n / RowLength;
        using var other = new NativeArray<ushort>(n);
        using var @base = new NativeArray<ushort>(n);
        using var importance = new NativeArray<float>(n);
        using var output = new NativeArray<ushort>(n);
        using var copy = new NativeArray<float>(n);
        Fill(other, @base);
        var rowKl = new double[rowsCount];
        var quartiles = new float[3];
        long[] ranks = [(n - 1) / 4, (n - 1) / 2, 3 * (n - 1) / 4];
        var x = other.AsRaw(DType.BF16);
        var y = @base.AsRaw(DType.BF16);

        double hostCopy = Median(repeat, () => Parallel.For(0, 16, p =>
        {
            long begin = n * p / 16, end = n * (p + 1) / 16;
            Buffer.MemoryCopy(importance.Pointer + begin, copy.Pointer + begin, (end - begin) * 4, (end - begin) * 4);
        }));
        double copyRate = 2.0 * n * sizeof(float) / hostCopy;
        var rows = new List<JsonObject>
        {
            Row(kernels.Device, "host memcpy (copy floor)", "host", hostCopy, 2 * n * sizeof(float), copyRate, n),
            Row(kernels.Device, "row_importance (bf16 in)", "end-to-end", Median(repeat, () => kernels.RowImportance(importance, rowKl, x, y, RowLength, ComputePrecision.Float32)),
                4 * n + 4 * n + 8 * rowsCount, copyRate, n),
            Row(kernels.Device, "select_ranks (Q25/Q50/Q75)", "end-to-end", Median(repeat, () => kernels.SelectRanks(quartiles, importance, ranks)), 4 * n, copyRate, n),
            Row(kernels.Device, "masked_select (bf16 out)", "end-to-end", Median(repeat, () => kernels.MaskedSelect(output.AsRaw(DType.BF16), x, y, importance, 0, quartiles[1])),
                2 * n + 2 * n + 4 * n + 2 * n, copyRate, n),
            Row(kernels.Device, "arcee_fusion tensor (kept importance)", "end-to-end", Median(repeat, () => KeptImportanceTensor(kernels, importance, rowKl, x, y, output, ranks)),
                2 * n + 2 * n + 2 * n, copyRate, n),
        };
        var timings = kernels switch
        {
            CudaMergeKernels cuda => CudaKernelBench.Run(cuda, x, y, RowLength, repeat),
            IlgpuMergeKernels ilgpu => IlgpuKernelBench.Run(ilgpu, x, y, RowLength, repeat),
            _ => null,
        };
        if (timings != null)
        {
            double deviceCopy = timings.Single(t => t.Kernel.StartsWith("copy")).GigabytesPerSecond * 1e9;
            foreach (var t in timings)
                rows.Add(Row(kernels.Device, t.Kernel, "device-resident", t.MedianMilliseconds / 1e3, t.Bytes, deviceCopy, n));
        }
        return rows;
    }

    /// <summary>One Arcee Fusion tensor as the merge runs it: the importance kept by the backend, its quartiles,
    /// and the selection written in the merge's output chunks (the rows above are the same steps as separate calls).</summary>
    private static void KeptImportanceTensor(IMergeKernels kernels, NativeArray<float> host, double[] rowKl, RawTensor x, RawTensor y,
        NativeArray<ushort> output, long[] ranks)
    {
        using var kept = kernels.ComputeImportance(host, rowKl, x, y, RowLength, ComputePrecision.Float32);
        Span<float> q = stackalloc float[3];
        kept.SelectRanks(q, ranks);
        float threshold = ArceeFusion.Threshold(q[0], q[1], q[2], ArceeFusion.DefaultLambda, ComputePrecision.Float32);
        var all = output.AsRaw(DType.BF16);
        for (long start = 0; start < all.Length; start += MergeExecutor.OutputChunkElements)
            kept.MaskedSelect(all.Slice(start, Math.Min(MergeExecutor.OutputChunkElements, all.Length - start)), start, threshold);
    }

    private static JsonObject MeasureQuantiles(CudaMergeKernels cuda, long count, int repeat)
    {
        using var values = new NativeArray<float>(count);
        unsafe
        {
            float* p = values.Pointer;
            Parallel.For(0, 64, part =>
            {
                long begin = count * part / 64, end = count * (part + 1) / 64;
                var random = new Random(part);
                for (long i = begin; i < end; i++) p[i] = (float)(random.NextDouble() * random.NextDouble()) * 1e-4f;
            });
        }
        var t = CudaKernelBench.Quantiles(cuda, values, repeat);
        return Row(cuda.Device, t.Kernel, "device-resident", t.MedianMilliseconds / 1e3, t.Bytes, null, count);
    }

    private static JsonObject Row(string device, string kernel, string scope, double seconds, long bytes, double? copyBytesPerSecond, long elements)
    {
        double rate = bytes / seconds;
        return new JsonObject
        {
            ["device"] = device,
            ["kernel"] = kernel,
            ["scope"] = scope,
            ["elements"] = elements,
            ["median_ms"] = Math.Round(seconds * 1e3, 4),
            ["bytes"] = bytes,
            ["gb_per_s"] = Math.Round(rate / 1e9, 2),
            ["fraction_of_copy"] = copyBytesPerSecond is { } c ? Math.Round(rate / c, 3) : null,
        };
    }

    private static unsafe void Fill(NativeArray<ushort> other, NativeArray<ushort> @base)
    {
        long n = other.Length;
        ushort* o = other.Pointer, b = @base.Pointer;
        Parallel.For(0, 64, part =>
        {
            long begin = n * part / 64, end = n * (part + 1) / 64;
            var random = new Random(part + 1);
            for (long i = begin; i < end; i++)
            {
                float v = (float)(random.NextDouble() * 2 - 1) * 0.05f;
                b[i] = DTypeConversion.SingleToBFloat16(v);
                o[i] = DTypeConversion.SingleToBFloat16(v + (float)(random.NextDouble() * 2 - 1) * 0.002f);
            }
        });
    }

    private static double Median(int repeat, Action run)
    {
        run();
        var samples = new double[repeat];
        for (int i = 0; i < repeat; i++)
        {
            var clock = Stopwatch.StartNew();
            run();
            samples[i] = clock.Elapsed.TotalSeconds;
        }
        Array.Sort(samples);
        return samples[repeat / 2];
    }

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
