namespace Engine.Training.Sft;

/// <summary>How the learning rate moves over the run (transformers' schedulers of the same names).</summary>
public enum LrSchedule
{
    /// <summary>The peak rate at every step.</summary>
    Constant,
    /// <summary>Linear warm-up from 0 over <c>ceil(warmup_ratio * steps)</c> steps, then constant.</summary>
    ConstantWithWarmup,
    /// <summary>Linear warm-up, then <c>lr * 0.5 (1 + cos(pi * progress))</c> down to 0 at the last step.</summary>
    Cosine,
}

/// <summary>How examples become training sequences of at most <see cref="SftOptions.SeqLen"/> tokens. In every
/// mode each example stays its own document inside a sequence: it attends only to itself (block-diagonal mask)
/// and its positions restart at 0, so packing changes how many sequences there are, not what a document sees.
/// (LLaMA-Factory's <c>neat_packing</c> flag names exactly that isolation, which both packed modes here always
/// have; the names below say how documents are grouped.)</summary>
public enum PackingMode
{
    /// <summary>One example per sequence.</summary>
    None,

    /// <summary>Next fit in file order: examples laid end to end while they fit, else a new sequence.</summary>
    Greedy,

    /// <summary>Best fit decreasing (the knapsack-style grouping LLaMA-Factory packs with): longest example first
    /// (ties: file order), each into the sequence with the least room left that still holds it, so fewer
    /// sequences and less padding. Never more sequences than <see cref="Greedy"/> (when file order happens to
    /// pack tighter, its grouping is used). Deterministic.</summary>
    Neat,
}

/// <summary>Options of a supervised fine-tuning run, named as transformers / LLaMA-Factory name them.
/// A step is <see cref="GradAccum"/> micro-batches of <see cref="BatchSize"/> sequences; its loss is the sum of
/// its token losses over its scored tokens. Validated at construction.</summary>
public sealed record SftOptions
{
    /// <summary>Validated SFT options; defaults are transformers' (except <c>max_grad_norm</c> 1.0 and packing on).</summary>
    /// <exception cref="ArgumentException">A value is out of range; the message names the <c>engine sft</c> option.</exception>
    public SftOptions(double lr, LrSchedule lrSchedule = LrSchedule.Constant, double warmupRatio = 0, int epochs = 1, long maxSteps = 0,
        int batchSize = 1, int gradAccum = 1, int seqLen = 2048, PackingMode packing = PackingMode.Greedy, double adamBeta1 = 0.9,
        double adamBeta2 = 0.999, double adamEps = 1e-8, double weightDecay = 0, double maxGradNorm = 1.0, int seed = 42,
        long saveSteps = 0, int threads = 0, int? zeroStage = null)
    {
        AdamW = new AdamWOptions(lr, adamBeta1, adamBeta2, adamEps, weightDecay, maxGradNorm);
        if (!(warmupRatio >= 0 && warmupRatio <= 1)) throw new ArgumentException($"--warmup-ratio must be in [0, 1], got {warmupRatio}");
        if (epochs < 1) throw new ArgumentException($"--epochs must be at least 1, got {epochs}");
        if (maxSteps < 0) throw new ArgumentException($"--max-steps must be >= 0 (0 = from epochs), got {maxSteps}");
        if (batchSize < 1) throw new ArgumentException($"--batch-size must be at least 1, got {batchSize}");
        if (gradAccum < 1) throw new ArgumentException($"--grad-accum must be at least 1, got {gradAccum}");
        if (seqLen < 2) throw new ArgumentException($"--seq-len must be at least 2, got {seqLen}");
        if (saveSteps < 0) throw new ArgumentException($"--save-steps must be >= 0 (0 = only at the end), got {saveSteps}");
        if (threads < 0) throw new ArgumentException($"--threads must be >= 0 (0 = all cores), got {threads}");
        if (zeroStage is not (null or 0 or 1)) throw new ArgumentException($"--zero-stage must be 0 or 1, got {zeroStage}");
        ZeroStage = zeroStage;
        if (!Enum.IsDefined(lrSchedule)) throw new ArgumentException($"--lr-schedule: unknown schedule {lrSchedule}");
        if (!Enum.IsDefined(packing)) throw new ArgumentException($"--packing: unknown mode {packing}");
        (LrScheduleKind, WarmupRatio, Epochs, MaxSteps, BatchSize, GradAccum, SeqLen, Packing, Seed, SaveSteps, Threads) =
            (lrSchedule, warmupRatio, epochs, maxSteps, batchSize, gradAccum, seqLen, packing, seed, saveSteps, threads);
    }

    /// <summary>Peak learning rate, betas, eps, weight decay and clipping.</summary>
    public AdamWOptions AdamW { get; }
    /// <summary><c>lr_scheduler_type</c>.</summary>
    public LrSchedule LrScheduleKind { get; }
    /// <summary>Fraction of the run's steps spent warming up, in [0, 1].</summary>
    public double WarmupRatio { get; }
    /// <summary>Passes over the data when <see cref="MaxSteps"/> is 0.</summary>
    public int Epochs { get; }

    /// <summary>0 = <see cref="Epochs"/> passes over the data.</summary>
    public long MaxSteps { get; }

    /// <summary>Sequences per micro-batch (per rank).</summary>
    public int BatchSize { get; }
    /// <summary>Micro-batches whose gradients are summed into one optimizer step.</summary>
    public int GradAccum { get; }
    /// <summary>The most tokens in one training sequence; longer examples are truncated.</summary>
    public int SeqLen { get; }
    /// <summary>How examples are grouped into sequences.</summary>
    public PackingMode Packing { get; }
    /// <summary>Seed of the data shuffle (and of anything else random in the run), so a run repeats exactly.</summary>
    public int Seed { get; }

    /// <summary>0 = a checkpoint only at the end.</summary>
    public long SaveSteps { get; }

    /// <summary>ZeRO stage of a multi-rank run: 0 = every rank keeps all of AdamW's state, 1 = each keeps its
    /// shard. Null: 1 when there is more than one rank. Ignored by a one-rank run.</summary>
    public int? ZeroStage { get; }

    /// <summary>The stage a run of <paramref name="ranks"/> ranks uses.</summary>
    public int ZeroStageFor(int ranks) => ranks <= 1 ? 0 : ZeroStage ?? 1;

    /// <summary>As <see cref="ZeroStageFor(int)"/>, except that a one-rank world whose model buffers go over their
    /// own collectives (NCCL under <c>mpirun -np 1</c>) keeps an explicit <c>--zero-stage</c>, so that one GPU runs
    /// either stage's calls (default 0).</summary>
    public int ZeroStageFor(int ranks, bool collectives) => ZeroStageFor(ZeroStage, ranks, collectives);

    /// <summary>The rule of <see cref="ZeroStageFor(int, bool)"/> for a <paramref name="requested"/> stage (null: none
    /// asked for), for a caller without options (<c>engine bench sft</c>).</summary>
    public static int ZeroStageFor(int? requested, int ranks, bool collectives) =>
        ranks > 1 ? requested ?? 1 : collectives ? requested ?? 0 : 0;

    /// <summary>0 = all cores. Does not change results: the native trainer's sums do not depend on it.</summary>
    public int Threads { get; }

    /// <summary>The learning rate of optimizer step <paramref name="step"/> (1-based) of <paramref name="totalSteps"/>:
    /// transformers' LambdaLR schedules, evaluated at <c>step - 1</c> as its scheduler is; warmup steps are
    /// <c>ceil(warmup_ratio * total)</c>.</summary>
    public double LearningRate(long step, long totalSteps)
    {
        long s = step - 1;
        long warmup = (long)Math.Ceiling(WarmupRatio * totalSteps);
        double lr = AdamW.Lr;
        if (LrScheduleKind == LrSchedule.Constant) return lr;
        if (s < warmup) return lr * s / Math.Max(1, warmup);
        if (LrScheduleKind == LrSchedule.ConstantWithWarmup) return lr;
        double progress = (double)(s - warmup) / Math.Max(1, totalSteps - warmup);
        return lr * Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * progress)));
    }
}

/// <summary>The names of the enum options on the command line and in trainer_state.json (transformers'
/// spellings for the schedules).</summary>
public static class SftOptionNames
{
    /// <summary>The command-line spelling of <paramref name="schedule"/> (transformers': <c>constant</c>,
    /// <c>constant_with_warmup</c>, <c>cosine</c>).</summary>
    public static string Of(LrSchedule schedule) => schedule switch
    {
        LrSchedule.Constant => "constant",
        LrSchedule.ConstantWithWarmup => "constant_with_warmup",
        LrSchedule.Cosine => "cosine",
        _ => throw new ArgumentOutOfRangeException(nameof(schedule), schedule, null),
    };

    /// <summary>The command-line spelling of <paramref name="packing"/>: <c>none</c>, <c>greedy</c>, <c>neat</c>.</summary>
    public static string Of(PackingMode packing) => packing switch
    {
        PackingMode.None => "none",
        PackingMode.Greedy => "greedy",
        PackingMode.Neat => "neat",
        _ => throw new ArgumentOutOfRangeException(nameof(packing), packing, null),
    };

    /// <summary>The schedule spelled <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No schedule is spelled so.</exception>
    public static LrSchedule ParseLrSchedule(string name)
    {
        foreach (var schedule in Enum.GetValues<LrSchedule>()) if (Of(schedule) == name) return schedule;
        throw new ArgumentException($"--lr-schedule must be constant, constant_with_warmup or cosine, got '{name}'");
    }

    /// <summary>The packing mode spelled <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No mode is spelled so.</exception>
    public static PackingMode ParsePacking(string name)
    {
        foreach (var packing in Enum.GetValues<PackingMode>()) if (Of(packing) == name) return packing;
        throw new ArgumentException($"--packing must be none, greedy or neat, got '{name}'");
    }
}
