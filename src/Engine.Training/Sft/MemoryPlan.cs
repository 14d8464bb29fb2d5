using System.Globalization;
using Engine.Core;

namespace Engine.Training.Sft;

/// <summary>The memory one rank of a run needs (float32 weights, float32 gradients and their float64 accumulator,
/// AdamW state at the chosen ZeRO stage,
/// and activations of the longest micro-batch), checked against what this machine can give the ranks it runs. On a
/// GPU the figures are device memory: the activations include the CUDA model's bf16 weight copy and scratch
/// (<see cref="Qwen2Model.WorkingBytes"/>), and ZeRO-1 needs no landing buffer (NCCL sums in place).</summary>
public sealed record MemoryPlan(long WeightBytes, long GradientBytes, long OptimizerBytes, long ActivationBytes, int ZeroStage, bool Cuda = false)
{
    /// <summary>Bytes one rank needs: weights + gradients + optimizer state + activations.</summary>
    public long TotalBytes => WeightBytes + GradientBytes + OptimizerBytes + ActivationBytes;

    /// <summary>The plan for a model of <paramref name="config"/> with <paramref name="parameters"/> elements whose longest
    /// micro-batch holds <paramref name="longestMicroBatchTokens"/> tokens, at <paramref name="zeroStage"/> over <paramref name="ranks"/> ranks
    /// (AdamW's m and v divided among them at stage 1); with <paramref name="cuda"/> the figures are device memory.</summary>
    public static MemoryPlan For(Qwen2Config config, long parameters, long longestMicroBatchTokens, int ranks, int zeroStage, bool cuda = false) =>
        new(parameters * sizeof(float), parameters * (sizeof(float) + sizeof(double)),
            cuda ? DeviceStateBytes(parameters, ranks, zeroStage) : DataParallelOptimizer.StateBytes(parameters, ranks, zeroStage),
            cuda ? Qwen2Model.WorkingBytes(config, longestMicroBatchTokens, cuda: true) : Qwen2Model.ActivationBytes(config, longestMicroBatchTokens),
            zeroStage, cuda);

    /// <summary>AdamW's two float32 moments for this rank's shard, in device memory (nothing else: the reduce-scatter
    /// sums into the accumulator's own shard).</summary>
    public static long DeviceStateBytes(long parameters, int ranks, int zeroStage)
    {
        long shard = zeroStage == 1 && ranks > 1 ? (parameters + ranks - 1) / ranks : parameters;
        return 2 * shard * sizeof(float);
    }

    /// <summary>One line: the total and its parts, and the optimizer state at the other stage for comparison.</summary>
    public string Describe(long parameters, int ranks)
    {
        string line = string.Create(CultureInfo.InvariantCulture,
            $"memory per rank {Gib(TotalBytes)}: weights {Gib(WeightBytes)}, gradients {Gib(GradientBytes)}, " +
            $"optimizer state {Gib(OptimizerBytes)} (zero stage {ZeroStage}), {(Cuda ? "activations, bf16 weights and scratch" : "activations")} {Gib(ActivationBytes)}{(Cuda ? " (GPU memory)" : "")}");
        if (ranks > 1)
        {
            int other = 1 - ZeroStage;
            long state = Cuda ? DeviceStateBytes(parameters, ranks, other) : DataParallelOptimizer.StateBytes(parameters, ranks, other);
            line += string.Create(CultureInfo.InvariantCulture, $"; optimizer state at stage {other} would be {Gib(state)}");
        }
        return line;
    }

    /// <summary>Throws when <paramref name="ranksOnThisMachine"/> ranks of this plan exceed
    /// <paramref name="availableBytes"/> of <paramref name="where"/>, naming the knobs that help.</summary>
    public void CheckFits(int ranksOnThisMachine, long availableBytes, int ranks, string where = "this machine")
    {
        long need = TotalBytes * ranksOnThisMachine;
        if (need <= availableBytes) return;
        var knobs = new List<string>();
        if (ZeroStage == 0 && ranks > 1) knobs.Add("--zero-stage 1");
        knobs.Add(ranks > 1 ? "more ranks on other machines (ZeRO-1 shards the optimizer state over all of them)" : "more ranks on several machines (mpirun --hostfile) with ZeRO-1");
        knobs.Add("a smaller --batch-size or --seq-len (activations)");
        throw new EngineException(string.Create(CultureInfo.InvariantCulture,
            $"sft: the run does not fit {where}: {ranksOnThisMachine} rank(s) here x {Gib(TotalBytes)} = {Gib(need)} > {Gib(availableBytes)} available " +
            $"(weights {Gib(WeightBytes)}, gradients {Gib(GradientBytes)}, optimizer {Gib(OptimizerBytes)}, activations {Gib(ActivationBytes)} per rank); try {string.Join(", or ", knobs)}"));
    }

    /// <summary>Memory this process may use: MemAvailable of /proc/meminfo, capped by the cgroup's limit; the
    /// GC's view where neither exists.</summary>
    public static long AvailableBytes()
    {
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        try
        {
            foreach (string line in File.ReadLines("/proc/meminfo"))
            {
                if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) continue;
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long kib)) available = Math.Min(available, kib * 1024);
            }
        }
        catch (IOException)
        {
        }
        return available;
    }

    private static string Gib(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024 * 1024):F2} GiB");
}
