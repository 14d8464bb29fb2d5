using Engine.Training.Data;

namespace Engine.Training.Sft;

/// <summary>A training sequence: one or more whole documents, at most seq_len tokens.</summary>
public sealed record TrainingSequence(int[] Tokens, int[] Labels, int[] DocumentLengths);

/// <summary>Turns examples into sequences. An example longer than seq_len is truncated to its first seq_len
/// tokens (as transformers' cutoff_len does); how the (truncated) examples are grouped is
/// <see cref="PackingMode"/>. Every example lands in exactly one sequence, and the result depends on the
/// examples alone (no randomness).</summary>
public static class SequencePacker
{
    /// <summary>The sequences of <paramref name="examples"/>, each at most <paramref name="seqLen"/> tokens, grouped by <paramref name="packing"/>.</summary>
    public static List<TrainingSequence> Pack(IReadOnlyList<TokenizedExample> examples, int seqLen, PackingMode packing)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(seqLen, 1);
        var groups = Group(examples.Select(e => Math.Min(seqLen, e.InputIds.Length)).ToArray(), seqLen, packing);
        return groups.Select(g => Build(examples, g, seqLen)).ToList();
    }

    /// <summary>How many examples are longer than <paramref name="seqLen"/> (and get truncated), and how many of
    /// those lose every scored token to the cut (the label of position t scores the prediction at t - 1, so a kept
    /// prefix of n tokens scores labels 1..n-1): such examples only add padding to the run.</summary>
    public static (int Truncated, int Unscored) Truncation(IReadOnlyList<TokenizedExample> examples, int seqLen)
    {
        int truncated = 0, unscored = 0;
        foreach (var e in examples)
        {
            if (e.InputIds.Length <= seqLen) continue;
            truncated++;
            if (!e.Labels.AsSpan(1, seqLen - 1).ContainsAnyExcept(PackedBatch.IgnoreIndex)) unscored++;
        }
        return (truncated, unscored);
    }

    /// <summary>Which examples go together, as lists of indices into <paramref name="lengths"/> (the truncated
    /// lengths, each in [0, seqLen]), in the order the sequences and their documents are laid out.</summary>
    public static List<List<int>> Group(IReadOnlyList<int> lengths, int seqLen, PackingMode packing) => packing switch
    {
        PackingMode.None => Enumerable.Range(0, lengths.Count).Select(i => new List<int> { i }).ToList(),
        PackingMode.Greedy => InOrder(lengths, seqLen),
        PackingMode.Neat => Neat(lengths, seqLen),
        _ => throw new ArgumentOutOfRangeException(nameof(packing), packing, null),
    };

    /// <summary>Next fit: each example goes into the current sequence while it has room, else starts a new one.</summary>
    private static List<List<int>> InOrder(IReadOnlyList<int> lengths, int seqLen)
    {
        var groups = new List<List<int>>();
        int used = seqLen + 1;
        for (int i = 0; i < lengths.Count; i++)
        {
            if (used + lengths[i] > seqLen)
            {
                groups.Add([]);
                used = 0;
            }
            groups[^1].Add(i);
            used += lengths[i];
        }
        return groups;
    }

    /// <summary>Best fit decreasing, or the in-order grouping when that needs fewer sequences (best fit
    /// decreasing is not optimal: lengths 3, 3, 2, 2, 2, 2 into 7 take three sequences that way, two in order).</summary>
    private static List<List<int>> Neat(IReadOnlyList<int> lengths, int seqLen)
    {
        var bestFit = BestFitDecreasing(lengths, seqLen);
        var inOrder = InOrder(lengths, seqLen);
        return inOrder.Count < bestFit.Count ? inOrder : bestFit;
    }

    /// <summary>Examples by decreasing length (ties: file order), each into the open sequence with the least room
    /// that still holds it (ties: the earliest opened), else into a new one. O(n log n + n log seq_len).</summary>
    private static List<List<int>> BestFitDecreasing(IReadOnlyList<int> lengths, int seqLen)
    {
        var order = Enumerable.Range(0, lengths.Count).OrderByDescending(i => lengths[i]).ThenBy(i => i);
        var groups = new List<List<int>>();
        var rooms = new RoomIndex(seqLen);
        foreach (int i in order)
        {
            int n = lengths[i];
            if (rooms.TakeTightest(n) is var (room, group))
            {
                groups[group].Add(i);
                rooms.Add(room - n, group);
            }
            else
            {
                groups.Add([i]);
                rooms.Add(seqLen - n, groups.Count - 1);
            }
        }
        return groups;
    }

    /// <summary>Open sequences by free room (0..seq_len): a count tree over room values finds the smallest room
    /// that holds a length in O(log seq_len), and a heap per room value gives its earliest-opened sequence.
    /// (A SortedSet view would do the search too, but counts its elements on creation: O(n) per lookup.)</summary>
    private sealed class RoomIndex(int seqLen)
    {
        private readonly int[] _counts = new int[4 * (seqLen + 1)];
        private readonly Dictionary<int, PriorityQueue<int, int>> _byRoom = [];

        public void Add(int room, int group)
        {
            if (!_byRoom.TryGetValue(room, out var heap)) _byRoom[room] = heap = new PriorityQueue<int, int>();
            heap.Enqueue(group, group);
            Update(1, 0, seqLen, room, +1);
        }

        /// <summary>Removes and returns the sequence with the least room >= <paramref name="length"/>, or null.</summary>
        public (int Room, int Group)? TakeTightest(int length)
        {
            int room = First(1, 0, seqLen, length);
            if (room < 0) return null;
            Update(1, 0, seqLen, room, -1);
            return (room, _byRoom[room].Dequeue());
        }

        private void Update(int node, int lo, int hi, int at, int delta)
        {
            _counts[node] += delta;
            if (lo == hi) return;
            int mid = (lo + hi) / 2;
            if (at <= mid) Update(2 * node, lo, mid, at, delta);
            else Update(2 * node + 1, mid + 1, hi, at, delta);
        }

        /// <summary>The smallest room value >= <paramref name="min"/> with an open sequence, or -1.</summary>
        private int First(int node, int lo, int hi, int min)
        {
            if (hi < min || _counts[node] == 0) return -1;
            if (lo == hi) return lo;
            int mid = (lo + hi) / 2;
            int left = First(2 * node, lo, mid, min);
            return left >= 0 ? left : First(2 * node + 1, mid + 1, hi, min);
        }
    }

    private static TrainingSequence Build(IReadOnlyList<TokenizedExample> examples, List<int> group, int seqLen)
    {
        int total = group.Sum(i => Math.Min(seqLen, examples[i].InputIds.Length));
        var tokens = new int[total];
        var labels = new int[total];
        var docs = new int[group.Count];
        int at = 0;
        for (int k = 0; k < group.Count; k++)
        {
            var e = examples[group[k]];
            int n = Math.Min(seqLen, e.InputIds.Length);
            e.InputIds.AsSpan(0, n).CopyTo(tokens.AsSpan(at));
            e.Labels.AsSpan(0, n).CopyTo(labels.AsSpan(at));
            docs[k] = n;
            at += n;
        }
        return new TrainingSequence(tokens, labels, docs);
    }
}
