using System.Runtime.CompilerServices;

namespace Engine.Kernels.Cpu;

/// <summary>Exact order statistics of float32 data by most-significant-digit radix select over orderable
/// keys, in two 16-bit passes and without copying the data: pass 1 histograms the top 16 bits of every key,
/// pass 2 histograms the low 16 bits of only the keys in each rank's bucket (up to three buckets per pass). Histograms are integer counts, so the result is the same for any thread count.</summary>
public static unsafe class RadixSelect
{
    private const int Bins = 1 << 16;

    /// <summary>Maps a float's bits to a uint whose unsigned order is the float's IEEE order
    /// (-inf &lt; negatives &lt; -0 &lt; +0 &lt; positives &lt; +inf).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint ToOrderedKey(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        return u ^ ((uint)((int)u >> 31) | 0x8000_0000u);
    }

    /// <summary>Inverse of <see cref="ToOrderedKey"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float FromOrderedKey(uint key)
    {
        uint u = (key & 0x8000_0000u) != 0 ? key ^ 0x8000_0000u : ~key;
        return BitConverter.UInt32BitsToSingle(u);
    }

    /// <summary>Writes the values of the given 0-based ranks among <paramref name="count"/> floats.</summary>
    public static void Select(Span<float> results, float* values, long count, ReadOnlySpan<long> ranks, int threads)
    {
        if (results.Length != ranks.Length) throw new ArgumentException("one result per rank", nameof(results));
        foreach (var k in ranks)
        {
            if (k < 0 || k >= count) throw new ArgumentOutOfRangeException(nameof(ranks), $"rank {k} outside [0, {count})");
        }
        if (ranks.IsEmpty) return;

        var high = Histogram(values, count, threads);
        var buckets = new int[ranks.Length];
        var remaining = new long[ranks.Length];
        for (int r = 0; r < ranks.Length; r++) (buckets[r], remaining[r]) = FindBin(high, ranks[r]);

        // One pass serves up to three buckets (Q25, Q50 and Q75 share it).
        foreach (var group in buckets.Distinct().Chunk(3))
        {
            var low = LowHistograms(values, count, threads, group);
            for (int r = 0; r < ranks.Length; r++)
            {
                int which = Array.IndexOf(group, buckets[r]);
                if (which < 0) continue;
                var (bin, _) = FindBin(low[which], remaining[r]);
                results[r] = FromOrderedKey(((uint)buckets[r] << 16) | (uint)bin);
            }
        }
    }

    /// <summary>The bin holding rank <paramref name="rank"/> and the rank within that bin.</summary>
    private static (int Bin, long Rank) FindBin(long[] histogram, long rank)
    {
        long seen = 0;
        for (int b = 0; b < Bins; b++)
        {
            if (rank < seen + histogram[b]) return (b, rank - seen);
            seen += histogram[b];
        }
        throw new InvalidOperationException("rank beyond histogram total");
    }

    private const long Chunk = 1 << 20;

    /// <summary>Top-16-bit histogram of all keys.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static long[] Histogram(float* values, long count, int threads)
    {
        return CountInChunks(threads, count, Bins, (local, begin, end) =>
        {
            for (long i = begin; i < end; i++) local[ToOrderedKey(values[i]) >> 16]++;
        })[0];
    }

    /// <summary>Low-16-bit histograms of the keys whose top 16 bits equal each bucket, in one pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static long[][] LowHistograms(float* values, long count, int threads, int[] buckets)
    {
        uint b0 = (uint)buckets[0], b1 = (uint)buckets[Math.Min(1, buckets.Length - 1)], b2 = (uint)buckets[^1];
        return CountInChunks(threads, count, Bins * buckets.Length, (local, begin, end) =>
        {
            for (long i = begin; i < end; i++)
            {
                uint key = ToOrderedKey(values[i]);
                uint top = key >> 16;
                if (top == b0) local[key & 0xFFFF]++;
                else if (top == b1) local[Bins + (key & 0xFFFF)]++;
                else if (top == b2) local[2 * Bins + (key & 0xFFFF)]++;
            }
        }, buckets.Length);
    }

    /// <summary>Runs <paramref name="count"/> elements through per-worker int histograms in fixed chunks and
    /// sums them into long histograms of <see cref="Bins"/> each.</summary>
    private static long[][] CountInChunks(int threads, long count, int size, Action<int[], long, long> fill, int histograms = 1)
    {
        long chunks = (count + Chunk - 1) / Chunk;
        var total = new long[size];
        int workers = (int)Math.Min(threads, Math.Max(1, chunks));
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = threads }, worker =>
        {
            var local = new int[size];
            var wide = new long[size];
            for (long c = worker; c < chunks; c += workers)
            {
                fill(local, c * Chunk, Math.Min(count, (c + 1) * Chunk));
                for (int b = 0; b < size; b++) { wide[b] += local[b]; local[b] = 0; }
            }
            lock (total)
            {
                for (int b = 0; b < size; b++) total[b] += wide[b];
            }
        });
        return Enumerable.Range(0, histograms).Select(h => total.AsSpan(h * Bins, Bins).ToArray()).ToArray();
    }
}
