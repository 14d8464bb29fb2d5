using System.Buffers;
using System.Runtime.CompilerServices;

namespace Engine.Kernels.Cpu;

/// <summary>Exact order statistics of float32 data by most-significant-digit radix select over orderable
/// keys, in two 16-bit passes and without copying the data: pass 1 histograms the top 16 bits of every key,
/// pass 2 histograms the low 16 bits of only the keys in each rank's bucket (up to three buckets per pass). Histograms are integer counts, so the result is the same for any thread count.</summary>
public static unsafe class RadixSelect
{
    internal const int Bins = 1 << 16;

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

    /// <summary>The argument check of every backend's <c>SelectRanks</c>: one result per rank, every rank in [0, count).</summary>
    public static void CheckRanks(ReadOnlySpan<float> results, ReadOnlySpan<long> ranks, long count)
    {
        if (results.Length != ranks.Length) throw new ArgumentException("one result per rank", nameof(results));
        foreach (var k in ranks)
        {
            if (k < 0 || k >= count) throw new ArgumentOutOfRangeException(nameof(ranks), $"rank {k} outside [0, {count})");
        }
    }

    /// <summary>Writes the values of the given 0-based ranks among <paramref name="count"/> floats.</summary>
    public static void Select(Span<float> results, float* values, long count, ReadOnlySpan<long> ranks, int threads)
    {
        CheckRanks(results, ranks, count);
        if (ranks.IsEmpty) return;
        var high = Histogram(values, count, threads);
        try
        {
            SelectFromTop(results, high, ranks, group => LowHistograms(values, count, threads, group));
        }
        finally
        {
            ArrayPool<long>.Shared.Return(high);
        }
    }

    /// <summary>The second half of <see cref="Select"/>, given the top-16-bit histogram of all keys (from
    /// <see cref="CountTop"/>; a fused producer builds it while it computes the values): finds each rank's bucket,
    /// then asks <paramref name="lowHistograms"/> for the low-16-bit histograms of up to three buckets at a time
    /// (bins [h * 65536, (h + 1) * 65536) for bucket h of the group; pooled, returned here).</summary>
    internal static void SelectFromTop(Span<float> results, long[] high, ReadOnlySpan<long> ranks, Func<int[], long[]> lowHistograms)
    {
        var buckets = new int[ranks.Length];
        var remaining = new long[ranks.Length];
        for (int r = 0; r < ranks.Length; r++) (buckets[r], remaining[r]) = FindBin(high, ranks[r]);

        // One pass serves up to three buckets (Q25, Q50 and Q75 share it).
        foreach (var group in buckets.Distinct().Chunk(3))
        {
            var low = lowHistograms(group);
            for (int r = 0; r < ranks.Length; r++)
            {
                int which = Array.IndexOf(group, buckets[r]);
                if (which < 0) continue;
                var (bin, _) = FindBin(low, remaining[r], which * Bins);
                results[r] = FromOrderedKey(((uint)buckets[r] << 16) | (uint)bin);
            }
            ArrayPool<long>.Shared.Return(low);
        }
    }

    /// <summary>The bin holding rank <paramref name="rank"/> and the rank within that bin.</summary>
    private static (int Bin, long Rank) FindBin(long[] histogram, long rank, int offset = 0)
    {
        long seen = 0;
        for (int b = 0; b < Bins; b++)
        {
            if (rank < seen + histogram[offset + b]) return (b, rank - seen);
            seen += histogram[offset + b];
        }
        throw new InvalidOperationException("rank beyond histogram total");
    }

    /// <summary>Elements a worker counts in int bins before folding them into the long totals (no int overflow).</summary>
    internal const long Segment = 1 << 30;

    /// <summary>Below this many elements per worker, a second thread costs more than it saves.</summary>
    private const long MinElementsPerWorker = 1 << 22;

    /// <summary>Top-16-bit histogram of all keys.</summary>
    private static long[] Histogram(float* values, long count, int threads) =>
        CountInSegments(values, count, threads, null);

    /// <summary>Low-16-bit histograms of the keys whose top 16 bits equal each of up to three buckets, in one
    /// pass; histogram h occupies bins [h * 65536, (h + 1) * 65536).</summary>
    private static long[] LowHistograms(float* values, long count, int threads, int[] buckets) =>
        CountInSegments(values, count, threads, buckets);

    /// <summary>Splits the data into one contiguous range per worker; each counts into pooled int bins with a
    /// statically compiled loop and folds them into the long totals every <see cref="Segment"/> elements.
    /// Integer counts make the result independent of the split.</summary>
    private static long[] CountInSegments(float* values, long count, int threads, int[]? buckets)
    {
        int histograms = buckets?.Length ?? 1;
        int size = Bins * histograms;
        // Pooled: a fresh 0.5-1.5 MB array per call lands on the large-object heap and, over a model's
        // hundreds of tensors, costs more in collections than the counting itself. Callers return it.
        var total = ArrayPool<long>.Shared.Rent(size);
        Array.Clear(total, 0, size);
        int workers = (int)Math.Clamp(count / MinElementsPerWorker, 1, threads);
        long share = (count + workers - 1) / workers;
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = threads }, worker =>
        {
            var local = ArrayPool<int>.Shared.Rent(size);
            try
            {
                long end = Math.Min(count, (worker + 1) * share);
                for (long begin = worker * share; begin < end; begin += Segment)
                {
                    Array.Clear(local, 0, size);
                    long stop = Math.Min(end, begin + Segment);
                    fixed (int* bins = local)
                    {
                        if (buckets is null) CountTop(bins, values, begin, stop);
                        else CountLow(bins, values, begin, stop, buckets);
                    }
                    lock (total)
                    {
                        for (int b = 0; b < size; b++) total[b] += local[b];
                    }
                }
            }
            finally
            {
                ArrayPool<int>.Shared.Return(local);
            }
        });
        return total;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void CountTop(int* bins, float* values, long begin, long end)
    {
        for (long i = begin; i < end; i++) bins[ToOrderedKey(values[i]) >> 16]++;
    }

    /// <summary><see cref="CountLow(int*, float*, long, long, uint, uint, uint)"/> for a group of one to three buckets
    /// (histogram h of the bins for bucket h of the group).</summary>
    internal static void CountLow(int* bins, float* values, long begin, long end, int[] buckets) =>
        CountLow(bins, values, begin, end, (uint)buckets[0], (uint)buckets[Math.Min(1, buckets.Length - 1)], (uint)buckets[^1]);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void CountLow(int* bins, float* values, long begin, long end, uint b0, uint b1, uint b2)
    {
        for (long i = begin; i < end; i++)
        {
            uint key = ToOrderedKey(values[i]);
            uint top = key >> 16;
            if (top == b0) bins[key & 0xFFFF]++;
            else if (top == b1) bins[Bins + (key & 0xFFFF)]++;
            else if (top == b2) bins[2 * Bins + (key & 0xFFFF)]++;
        }
    }
}
