using Engine.Core.Numerics;
using Engine.Kernels;

namespace Engine.Merge.Methods;

/// <summary>Which elements of a tensor a sparsifier keeps: one bit per element (n / 8 bytes, where a float
/// mask would take 4n). Blocks of <see cref="ElementwiseOps.BlockElements"/> own whole words, so blocks set
/// bits in parallel without sharing a word.</summary>
public sealed class KeepMask
{
    private readonly ulong[] _bits;

    public KeepMask(long length)
    {
        Length = length;
        _bits = new ulong[(length + 63) / 64];
    }

    public long Length { get; }

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
        var counts = ElementwiseOps.Sum(n, 2, (start, count, sums) =>
        {
            var v = values.Slice(start, count);
            long belowLow = 0, belowHigh = 0;
            foreach (float x in v)
            {
                if (x < low) belowLow++;
                if (x < high) belowHigh++;
            }
            sums[0] += belowLow;
            sums[1] += belowHigh;
        }, cancellation);
        long lessLow = (long)counts[0], lessHigh = (long)counts[1];

        // Equal-to-bound counts per block, prefix-summed so each block knows the stable rank of its first tie.
        var equalLow = new long[blocks];
        var equalHigh = new long[blocks];
        ElementwiseOps.ForEachBlock(n, (start, count) =>
        {
            long b = start / ElementwiseOps.BlockElements;
            foreach (float x in values.Slice(start, count))
            {
                if (x == low) equalLow[b]++;
                if (x == high) equalHigh[b]++;
            }
        }, cancellation);
        long runLow = 0, runHigh = 0;
        for (long b = 0; b < blocks; b++)
        {
            (equalLow[b], runLow) = (runLow, runLow + equalLow[b]);
            (equalHigh[b], runHigh) = (runHigh, runHigh + equalHigh[b]);
        }
        ElementwiseOps.ForEachBlock(n, (start, count) =>
        {
            long b = start / ElementwiseOps.BlockElements;
            long seenLow = equalLow[b], seenHigh = equalHigh[b];
            var v = values.Slice(start, count);
            for (int i = 0; i < v.Length; i++)
            {
                float x = v[i];
                bool keep;
                if (x == low || x == high)
                {
                    long rank = x == low ? lessLow + seenLow : lessHigh + seenHigh;
                    keep = rank >= lo && rank < hi;
                }
                else
                {
                    keep = x > low && x < high;
                }
                if (x == low) seenLow++;
                if (x == high) seenHigh++;
                if (keep) mask.Set(start + i);
            }
        }, cancellation);
        return mask;
    }
}
