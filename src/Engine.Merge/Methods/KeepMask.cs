using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Engine.Core.Numerics;
using Engine.Kernels;

namespace Engine.Merge.Methods;

/// <summary>Which elements of a tensor a sparsifier keeps: one bit per element (n / 8 bytes, where a float
/// mask would take 4n). Blocks of <see cref="ElementwiseOps.BlockElements"/> own whole words, so blocks set
/// bits in parallel without sharing a word.</summary>
internal sealed class KeepMask
{
    private readonly ulong[] _bits;

    public KeepMask(long length)
    {
        Length = length;
        _bits = new ulong[(length + 63) / 64];
    }

    public long Length { get; }

    /// <summary>The bits, word e &gt;&gt; 6 holding element e at bit e &amp; 63, as the kernels take them.</summary>
    internal ulong[] Words => _bits;

    public bool this[long index] => (_bits[index >> 6] & (1UL << (int)(index & 63))) != 0;

    public void Set(long index) => _bits[index >> 6] |= 1UL << (int)(index & 63);

    /// <summary><see cref="Set"/> for writers that may share a word (rows not aligned to 64 elements).</summary>
    public void SetAtomic(long index) => Interlocked.Or(ref _bits[index >> 6], 1UL << (int)(index & 63));

    public long Count()
    {
        long n = 0;
        foreach (var w in _bits) n += System.Numerics.BitOperations.PopCount(w);
        return n;
    }

    /// <summary>The elements whose stable ascending rank lies in [<paramref name="lo"/>, <paramref name="hi"/>):
    /// elements ordered by value, equal values by position. Exact (radix select through the kernels), so the
    /// same inputs always keep the same elements; values must hold no NaN.</summary>
    /// <remarks>mergekit sorts with <c>torch.argsort</c>/<c>topk</c>, whose order among equal magnitudes is
    /// unspecified; ordering ties by position is the deterministic reading of the same rule.</remarks>
    public static KeepMask RankWindow(NativeArray<float> values, long lo, long hi, IMergeKernels kernels, CancellationToken cancellation)
    {
        long n = values.Length;
        var mask = new KeepMask(n);
        lo = Math.Max(0, lo);
        hi = Math.Min(n, hi);
        if (lo >= hi) return mask;

        // Bounds: the values at ranks lo and hi - 1; elements strictly between them are kept, elements equal
        // to a bound are kept by their stable rank = (# smaller) + (# equal before them).
        Span<float> bounds = stackalloc float[2];
        kernels.SelectRanks(bounds, values, [lo, hi - 1]);
        float low = bounds[0], high = bounds[1];
        long blocks = (n + ElementwiseOps.BlockElements - 1) / ElementwiseOps.BlockElements;
        var counts = new long[blocks * 4];
        ElementwiseOps.ForEachBlock(n, (start, count) =>
            CountAgainstBounds(values.Slice(start, count), low, high, counts.AsSpan((int)(start / ElementwiseOps.BlockElements * 4), 4)), cancellation);

        // Prefix sums of the per-block tie counts give each block the stable rank of its first tie.
        long lessLow = 0, lessHigh = 0, runLow = 0, runHigh = 0;
        var firstTie = new long[blocks * 2];
        for (long b = 0; b < blocks; b++)
        {
            lessLow += counts[b * 4];
            lessHigh += counts[b * 4 + 1];
            firstTie[b * 2] = runLow;
            firstTie[b * 2 + 1] = runHigh;
            runLow += counts[b * 4 + 2];
            runHigh += counts[b * 4 + 3];
        }
        ElementwiseOps.ForEachBlock(n, (start, count) =>
        {
            long b = start / ElementwiseOps.BlockElements;
            var window = new Window(low, high, lo, hi, lessLow + firstTie[b * 2], lessHigh + firstTie[b * 2 + 1]);
            window.Mark(mask, values.Slice(start, count), start);
        }, cancellation);
        return mask;
    }

    /// <summary>counts = (# below low, # below high, # equal to low, # equal to high) over one block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void CountAgainstBounds(ReadOnlySpan<float> values, float low, float high, Span<long> counts)
    {
        long belowLow = 0, belowHigh = 0, equalLow = 0, equalHigh = 0;
        int i = 0;
        if (Vector256.IsHardwareAccelerated && values.Length >= Vector256<float>.Count)
        {
            // Lane counts of at most BlockElements / 8 each: no overflow in int lanes.
            ref float r = ref MemoryMarshal.GetReference(values);
            var l = Vector256.Create(low);
            var h = Vector256.Create(high);
            Vector256<int> bl = default, bh = default, el = default, eh = default;
            for (; i <= values.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var x = Vector256.LoadUnsafe(ref r, (nuint)i);
                bl -= Vector256.LessThan(x, l).AsInt32();
                bh -= Vector256.LessThan(x, h).AsInt32();
                el -= Vector256.Equals(x, l).AsInt32();
                eh -= Vector256.Equals(x, h).AsInt32();
            }
            belowLow = Vector256.Sum(bl);
            belowHigh = Vector256.Sum(bh);
            equalLow = Vector256.Sum(el);
            equalHigh = Vector256.Sum(eh);
        }
        for (; i < values.Length; i++)
        {
            float x = values[i];
            belowLow += x < low ? 1 : 0;
            belowHigh += x < high ? 1 : 0;
            equalLow += x == low ? 1 : 0;
            equalHigh += x == high ? 1 : 0;
        }
        counts[0] = belowLow;
        counts[1] = belowHigh;
        counts[2] = equalLow;
        counts[3] = equalHigh;
    }

    /// <summary>The keep rule for one block: strictly between the bounds, or tied with a bound at a stable rank
    /// inside [lo, hi); <c>RankLow</c>/<c>RankHigh</c> are the stable ranks of the block's first ties.</summary>
    private readonly record struct Window(float Low, float High, long Lo, long Hi, long RankLow, long RankHigh)
    {
        /// <summary>Writes the mask words of one block (its start a multiple of 64, so it owns them) a word at a
        /// time; ties with a bound, rare, take the ranked path.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Mark(KeepMask mask, ReadOnlySpan<float> values, long start)
        {
            long rankLow = RankLow, rankHigh = RankHigh;
            var words = mask.Words;
            for (int w = 0; w * 64 < values.Length; w++)
            {
                ulong bits = 0;
                int end = Math.Min(values.Length, w * 64 + 64);
                for (int i = w * 64; i < end; i++)
                {
                    float x = values[i];
                    bool keep;
                    if (x == Low | x == High)
                    {
                        long rank = x == Low ? rankLow : rankHigh;
                        keep = rank >= Lo && rank < Hi;
                        if (x == Low) rankLow++;
                        if (x == High) rankHigh++;
                    }
                    else
                    {
                        keep = x > Low & x < High;
                    }
                    bits |= (keep ? 1UL : 0UL) << (i & 63);
                }
                words[(start >> 6) + w] = bits;
            }
        }
    }
}
