namespace Engine.Training.Sft;

/// <summary>What one rank computes in one optimizer step: its micro-batches, and the counts of the whole global
/// batch (all ranks) that normalise the loss and the throughput.</summary>
public sealed record StepBatches(IReadOnlyList<PackedBatch> MicroBatches, long GlobalScoredTokens, long GlobalTokens, int GlobalSequences);

/// <summary>The data sharder: one global order of the sequences per epoch (<c>Random(seed + epoch)</c>, the same
/// for every rank count), global steps of <c>batch_size x grad_accum x ranks</c> sequences, and in each step
/// rank r's contiguous slice of <c>batch_size x grad_accum</c> of them, cut into micro-batches of
/// <c>batch_size</c>. The last step of an epoch may hold fewer (some ranks then get fewer or none). So
/// <c>N</c> ranks with <c>grad_accum A</c> see, step by step, exactly the micro-batches one process sees with
/// <c>grad_accum N x A</c>. Every rank holds all sequences, so the global token counts need no communication.</summary>
public sealed class BatchSchedule
{
    private readonly IReadOnlyList<TrainingSequence> _sequences;
    private readonly long[] _scored;
    private readonly int _batchSize, _perRank, _rank, _seed;
    private int[]? _order;
    private long _orderEpoch = -1;

    /// <summary>The schedule of this <paramref name="rank"/> of <paramref name="ranks"/>: each epoch shuffles the sequences with
    /// <paramref name="seed"/> and the epoch, and each optimizer step takes <c>batchSize * gradAccum</c> of them per rank.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="ranks"/> is below 1 or <paramref name="rank"/> is not in [0, ranks).</exception>
    /// <exception cref="ArgumentException"><paramref name="sequences"/> is empty.</exception>
    public BatchSchedule(IReadOnlyList<TrainingSequence> sequences, int batchSize, int gradAccum, int seed, int ranks, int rank)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ranks, 1);
        if (rank < 0 || rank >= ranks) throw new ArgumentOutOfRangeException(nameof(rank));
        if (sequences.Count == 0) throw new ArgumentException("no sequences to schedule");
        _sequences = sequences;
        _scored = sequences.Select(s => (long)PackedBatch.CountScored(s.Labels, s.DocumentLengths)).ToArray();
        _batchSize = batchSize;
        _perRank = batchSize * gradAccum;
        _rank = rank;
        _seed = seed;
        GlobalBatch = _perRank * ranks;
        StepsPerEpoch = (sequences.Count + GlobalBatch - 1) / GlobalBatch;
    }

    /// <summary>Sequences per optimizer step, over all ranks.</summary>
    public int GlobalBatch { get; }

    /// <summary>Optimizer steps of one pass over the data: <c>ceil(sequences / GlobalBatch)</c>.</summary>
    public long StepsPerEpoch { get; }

    /// <summary>The batches of optimizer step <paramref name="step"/> (1-based) for this rank.</summary>
    public StepBatches For(long step)
    {
        var global = GlobalSlice(step);
        long scored = 0, tokens = 0;
        foreach (int i in global)
        {
            scored += _scored[i];
            tokens += _sequences[i].Tokens.Length;
        }
        var mine = global.Skip(_rank * _perRank).Take(_perRank).Select(i => _sequences[i]).Chunk(_batchSize).Select(Concat).ToList();
        return new StepBatches(mine, scored, tokens, global.Length);
    }

    /// <summary>How many of the first <paramref name="steps"/> steps carry no label token in their whole global batch.</summary>
    public long StepsWithoutLabels(long steps)
    {
        long count = 0;
        for (long s = 1; s <= steps; s++)
            if (GlobalSlice(s).All(i => _scored[i] == 0)) count++;
        return count;
    }

    /// <summary>The longest micro-batch (tokens) any rank can get: <c>batch_size</c> of the longest sequences.</summary>
    public long LongestMicroBatchTokens() =>
        _sequences.Select(s => (long)s.Tokens.Length).OrderDescending().Take(_batchSize).Sum();

    private int[] GlobalSlice(long step)
    {
        long epoch = (step - 1) / StepsPerEpoch;
        if (epoch != _orderEpoch)
        {
            _order = Enumerable.Range(0, _sequences.Count).ToArray();
            new Random(unchecked((int)(_seed + epoch))).Shuffle(_order);
            _orderEpoch = epoch;
        }
        int first = (int)((step - 1) % StepsPerEpoch) * GlobalBatch;
        return _order!.AsSpan(first, Math.Min(GlobalBatch, _order!.Length - first)).ToArray();
    }

    private static PackedBatch Concat(TrainingSequence[] sequences) =>
        new(sequences.SelectMany(s => s.Tokens).ToArray(), sequences.SelectMany(s => s.Labels).ToArray(),
            sequences.SelectMany(s => s.DocumentLengths).ToArray());
}
