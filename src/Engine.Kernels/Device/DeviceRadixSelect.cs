using Engine.Kernels.Cpu;

namespace Engine.Kernels.Device;

/// <summary>The host side of exact multi-rank radix select on a GPU, shared by the CUDA and ILGPU backends: three
/// histogram passes over the ordered keys (digits of 11, 11 and 10 bits, <see cref="Bins"/> bins in shared memory),
/// every rank sharing each pass, up to <see cref="MaxPrefixes"/> distinct prefixes per launch. The backend only
/// runs one histogram pass (<see cref="HistogramPass"/>). Reference: <see cref="RadixSelect.Select"/>.</summary>
internal static class DeviceRadixSelect
{
    /// <summary>Bins of the widest digit (radix_select.cu's and IlgpuKernels' histogram row).</summary>
    public const int Bins = 2048;

    /// <summary>Prefixes one histogram launch counts at once.</summary>
    public const int MaxPrefixes = 4;

    /// <summary>Fills <paramref name="histogram"/> (max(1, prefixCount) rows of <see cref="Bins"/>) with the counts of
    /// the digit <c>(key &gt;&gt; shift) &amp; ((1 &lt;&lt; bits) - 1)</c> of the keys whose bits from
    /// <paramref name="prefixShift"/> up equal prefix g (row g); with no prefixes, of every key (row 0).</summary>
    public delegate void HistogramPass(ulong[] histogram, int shift, int bits, int prefixShift, uint[] prefixes, int prefixCount);

    /// <summary>The values of rank <paramref name="ranks"/>[r] into <paramref name="results"/>[r] (ranks checked).</summary>
    public static void Select(Span<float> results, ReadOnlySpan<long> ranks, HistogramPass pass)
    {
        var prefix = new uint[ranks.Length];
        var remaining = ranks.ToArray();
        var histogram = new ulong[MaxPrefixes * Bins];
        (int Shift, int Bits, int PrefixShift)[] passes = [(21, 11, 32), (10, 11, 21), (0, 10, 10)];
        foreach (var (shift, bits, prefixShift) in passes)
        {
            var before = prefix.ToArray();
            var distinct = shift == 21 ? [0u] : before.Distinct().ToArray();
            for (int g = 0; g < distinct.Length; g += MaxPrefixes)
            {
                var group = distinct.AsSpan(g, Math.Min(MaxPrefixes, distinct.Length - g)).ToArray();
                int prefixCount = shift == 21 ? 0 : group.Length;
                pass(histogram, shift, bits, prefixShift, group, prefixCount);
                for (int r = 0; r < ranks.Length; r++)
                {
                    int slot = shift == 21 ? 0 : Array.IndexOf(group, before[r]);
                    if (slot < 0) continue;
                    var (bin, rest) = FindBin(histogram.AsSpan(slot * Bins, 1 << bits), remaining[r]);
                    prefix[r] = (prefix[r] << bits) | (uint)bin;
                    remaining[r] = rest;
                }
            }
        }
        for (int r = 0; r < ranks.Length; r++) results[r] = RadixSelect.FromOrderedKey(prefix[r]);
    }

    private static (int Bin, long Rank) FindBin(ReadOnlySpan<ulong> histogram, long rank)
    {
        long seen = 0;
        for (int b = 0; b < histogram.Length; b++)
        {
            if (rank < seen + (long)histogram[b]) return (b, rank - seen);
            seen += (long)histogram[b];
        }
        throw new InvalidOperationException($"rank {rank} beyond the histogram total {seen} (values changed during selection?)");
    }
}
