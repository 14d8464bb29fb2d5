using System.Runtime.CompilerServices;

namespace Engine.Kernels.Cpu;

/// <summary>Exact order statistics of float32 data by most-significant-digit radix select over orderable
/// keys, in two 16-bit passes and without copying the data: pass 1 histograms the top 16 bits of every key,
/// pass 2 histograms the low 16 bits of only the keys in each rank's bucket. All requested ranks share both
/// passes. Histograms are integer counts, so the result is the same for any thread count.</summary>
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

        var high = Histogram(values, count, threads, bucket: -1);
        var buckets = new int[ranks.Length];
        var remaining = new long[ranks.Length];
        for (int r = 0; r < ranks.Length; r++) (buckets[r], remaining[r]) = FindBin(high, ranks[r]);

        foreach (int bucket in buckets.Distinct())
        {
            var low = Histogram(values, count, threads, bucket);
            for (int r = 0; r < ranks.Length; r++)
            {
                if (buckets[r] != bucket) continue;
                var (bin, _) = FindBin(low, remaining[r]);
                results[r] = FromOrderedKey(((uint)bucket << 16) | (uint)bin);
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

    /// <summary>Top-16-bit histogram of all keys (bucket -1), or low-16-bit histogram of the keys whose top
    /// 16 bits equal <paramref name="bucket"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static long[] Histogram(float* values, long count, int threads, int bucket)
    {
        const long chunk = 1 << 20;
        long chunks = (count + chunk - 1) / chunk;
        var total = new long[Bins];
        Parallel.For(0, (int)Math.Min(threads, Math.Max(1, chunks)), new ParallelOptions { MaxDegreeOfParallelism = threads }, worker =>
        {
            var local = new int[Bins];
            var wide = new long[Bins];
            for (long c = worker; c < chunks; c += threads)
            {
                long begin = c * chunk, end = Math.Min(count, begin + chunk);
                uint* keys = (uint*)values;
                if (bucket < 0)
                {
                    for (long i = begin; i < end; i++) local[ToOrderedKey(values[i]) >> 16]++;
                }
                else
                {
                    uint want = (uint)bucket;
                    for (long i = begin; i < end; i++)
                    {
                        uint key = ToOrderedKey(values[i]);
                        if (key >> 16 == want) local[key & 0xFFFF]++;
                    }
                }
                for (int b = 0; b < Bins; b++) { wide[b] += local[b]; local[b] = 0; }
            }
            lock (total)
            {
                for (int b = 0; b < Bins; b++) total[b] += wide[b];
            }
        });
        return total;
    }
}
