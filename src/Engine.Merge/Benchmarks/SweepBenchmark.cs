using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using Engine.Core.Model;
using Engine.Kernels;
using Engine.Merge.Batch;
using Engine.Merge.Config;
using Engine.Merge.Execution;
using Engine.Merge.Methods;

namespace Engine.Merge.Benchmarks;

/// <summary>The result of <see cref="SweepBenchmark.Measure"/>.</summary>
/// <param name="Device">The backend timed.</param>
/// <param name="Threads">CPU threads.</param>
/// <param name="ElementsPerModel">Elements of each generated model.</param>
/// <param name="Repeat">Timed runs of each side.</param>
/// <param name="Lambdas">The lambdas of the batch.</param>
/// <param name="SingleSeconds">Median time of one Arcee Fusion merge (lambda 1.5) alone.</param>
/// <param name="BatchSeconds">Median time of the batch of every lambda over the same pair.</param>
/// <param name="Importances">Importances (and quartiles) the batch reused instead of computing (per run).</param>
/// <param name="SingleFloorSeconds">Median I/O floor of the one merge: its reads, conversions and one output written
/// and flushed, with no merge math.</param>
/// <param name="BatchFloorSeconds">Median I/O floor of the batch: the same reads once, and one output per lambda
/// written and flushed, with no merge math.</param>
public sealed record SweepBenchResult(string Device, int Threads, long ElementsPerModel, int Repeat, IReadOnlyList<double> Lambdas,
    double SingleSeconds, double BatchSeconds, int Importances, double SingleFloorSeconds, double BatchFloorSeconds)
{
    /// <summary>Batch time over one merge's: the issue's goal is at most 1.4 for three lambdas.</summary>
    public double Ratio => BatchSeconds / SingleSeconds;

    /// <summary>The batch's floor over the one merge's: the ratio the batch would have if the merge math cost
    /// nothing, so where writing the extra outputs dominates, no batch gets below it.</summary>
    public double FloorRatio => BatchFloorSeconds / SingleFloorSeconds;

    /// <summary>The batch's time over its own floor: how much the batch spends beyond reading once and writing N outputs.</summary>
    public double BatchOverFloor => BatchSeconds / BatchFloorSeconds;
}

/// <summary>The measurement of <c>engine bench merge --sweep N</c>: one Arcee Fusion merge of the generated pair against a
/// batch of N lambdas (1.0, 1.5, 2.0, ... in steps of 0.5) over the same pair, alternated run by run after a warm-up of
/// each, on the same backend. The batch reads each input once, computes each tensor's importance and quartiles once
/// and writes N outputs; the merge writes one. The I/O floor of each side (the same reads and writes, no merge math) is
/// timed in the same rounds, so that a ratio bound by the extra outputs' writes shows as such.</summary>
public static class SweepBenchmark
{
    /// <summary>Generates the pair described by <paramref name="spec"/> under <paramref name="root"/>, then times one Arcee
    /// Fusion merge against a batch of <paramref name="lambdas"/> lambdas (1.0, 1.5, ...), <paramref name="repeat"/> runs
    /// each, alternated, on <paramref name="kernels"/> with <paramref name="threads"/> CPU threads; returns the medians.</summary>
    public static SweepBenchResult Measure(IMergeKernels kernels, SyntheticModelSpec spec, string root, int lambdas, int threads, int repeat,
        CancellationToken cancellation)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(lambdas, 1);
        string a = Path.Combine(root, "base"), b = Path.Combine(root, "expert");
        BenchModels.Ensure(spec, [(a, null), (b, 99UL)], outputs: lambdas + 1);
        string configPath = Path.Combine(root, "bench-sweep.yml");
        File.WriteAllText(configPath, BenchMergeConfig.Yaml("arcee_fusion", a, [b]));
        var config = MergeConfigReader.Load(configPath);
        var values = Enumerable.Range(0, lambdas).Select(i => 1.0 + 0.5 * i).ToList();
        var sweep = new ParameterSweep("lambda", values.Select(v => v.ToString("0.0##", CultureInfo.InvariantCulture)).ToImmutableArray());
        string batchRoot = Path.Combine(root, "sweep");
        var jobs = ParameterSweep.Expand(new BatchJob("fusion", config, Path.Combine(batchRoot, "fusion")), [sweep]);
        string single = Path.Combine(root, "out");
        var executor = new MergeExecutor(kernels);
        var batch = new BatchExecutor([kernels]);
        int importances = 0;

        Func<MergeDocument, IMergeMethod> floor = _ => new IoFloorMethod();

        double One(bool ioFloor)
        {
            var clock = Stopwatch.StartNew();
            executor.Run(config, new MergeRunOptions(single) { Overwrite = true }, ioFloor ? floor : null, null, cancellation);
            double s = clock.Elapsed.TotalSeconds;
            Directory.Delete(single, recursive: true);
            return s;
        }

        double Batch(bool ioFloor)
        {
            var clock = Stopwatch.StartNew();
            using (var plan = BatchPlan.Create(jobs, new BatchOptions(batchRoot) { Overwrite = true, MethodOverride = ioFloor ? floor : null }))
            {
                int reused = batch.Run(plan, null, cancellation).Sharing.Importances;
                if (!ioFloor) importances = reused;
            }
            double s = clock.Elapsed.TotalSeconds;
            Directory.Delete(batchRoot, recursive: true);
            return s;
        }

        var medians = BenchTiming.AlternatingMedians(repeat, [() => One(false), () => Batch(false), () => One(true), () => Batch(true)]);
        return new SweepBenchResult(kernels.Device, threads, spec.Parameters, repeat, values, medians[0], medians[1], importances, medians[2], medians[3]);
    }
}
