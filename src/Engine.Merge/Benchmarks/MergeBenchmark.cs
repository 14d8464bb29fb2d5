using System.Diagnostics;
using Engine.Core.Diagnostics;
using Engine.Core.Model;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Execution;

namespace Engine.Merge.Benchmarks;

/// <summary>The result of <see cref="MergeBenchmark.Measure"/>.</summary>
/// <param name="Method">The merge method timed.</param>
/// <param name="Device">The backend's description.</param>
/// <param name="Threads">CPU worker threads.</param>
/// <param name="ElementsPerModel">Elements of the generated model (every tensor together).</param>
/// <param name="Repeat">Timed runs of each of the merge and the floor; the times are their medians.</param>
/// <param name="BaseModel">The generated base model's directory.</param>
/// <param name="Expert">The first generated expert's directory.</param>
/// <param name="FloorSeconds">Median time of the I/O floor: the same reads, conversions and writes with no merge math.</param>
/// <param name="MergeSeconds">Median time of the merge.</param>
/// <param name="Trace">The spans of one more, traced merge after the timed ones, when asked for.</param>
public sealed record MergeBenchResult(string Method, string Device, int Threads, long ElementsPerModel, int Repeat, string BaseModel, string Expert,
    double FloorSeconds, double MergeSeconds, ProfileTrace? Trace);

/// <summary>The measurement of <c>engine bench merge</c>: a merge of generated models (see <see cref="BenchMergeConfig"/>
/// and <see cref="BenchModels"/>) against its I/O floor, alternated run by run after one warm-up of each.</summary>
public static class MergeBenchmark
{
    /// <summary>Times <paramref name="method"/> on <paramref name="kernels"/> over models of <paramref name="spec"/> kept
    /// under <paramref name="root"/>, leaving disk room for <paramref name="outputs"/> model-sized outputs.</summary>
    public static MergeBenchResult Measure(IMergeKernels kernels, SyntheticModelSpec spec, string root, string method, int threads, int repeat, int outputs,
        bool trace, CancellationToken cancellation)
    {
        string a = Path.Combine(root, "base"), b = Path.Combine(root, "expert");
        string[] experts = [b, Path.Combine(root, "expert2")];
        string yaml = BenchMergeConfig.Yaml(method, a, experts);
        var models = new List<(string Path, ulong? ExpertSeed)> { (a, null) };
        for (int i = 0; i < BenchMergeConfig.ExpertCount(method); i++) models.Add((experts[i], 99UL - (ulong)i));
        BenchModels.Ensure(spec, models, outputs);
        string configPath = Path.Combine(root, "bench-merge.yml");
        File.WriteAllText(configPath, yaml);
        var config = MergeConfigReader.Load(configPath);
        string output = Path.Combine(root, "out");
        var executor = new MergeExecutor(kernels);

        double Time(bool floor, ProfileTrace? spans = null)
        {
            var clock = Stopwatch.StartNew();
            executor.Run(config, new MergeRunOptions(output) { Overwrite = true, Trace = spans }, floor ? _ => new IoFloorMethod() : null, null, cancellation);
            double s = clock.Elapsed.TotalSeconds;
            Directory.Delete(output, recursive: true);
            return s;
        }

        var (floor, merge) = BenchTiming.AlternatingMedians(repeat, () => Time(true), () => Time(false));
        ProfileTrace? traced = null;
        if (trace)
        {
            // A run of its own, after the timed ones: recording spans costs a little, and the medians stay untraced.
            traced = new ProfileTrace();
            Time(false, traced);
        }
        return new MergeBenchResult(method, kernels.Device, threads, spec.Parameters, repeat, a, b, floor, merge, traced);
    }
}
