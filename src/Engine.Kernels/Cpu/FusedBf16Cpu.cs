using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Engine.Kernels.Cpu;

/// <summary>The passes of <see cref="CpuFusedImportance"/> after the importance pass, on bf16 pairs straight from
/// their stored bits: a bf16 value is the top half of its float32 (<c>bits &lt;&lt; 16</c>, exact), so each
/// importance <c>|x - y| * kl</c> is recomputed in registers with the operations <see cref="RowImportanceCpu"/>
/// stored it with (bit for bit), with no float32 copies of the inputs and no importance block.</summary>
internal static unsafe class FusedBf16Cpu
{
    /// <summary><c>output_i = |other_i - base_i| * kl &gt;= threshold ? other_i : base_i</c> on one row segment;
    /// returns how many came from other.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Select(Span<ushort> output, ReadOnlySpan<ushort> other, ReadOnlySpan<ushort> @base, float kl, float threshold)
    {
        int n = output.Length, i = 0, taken = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref ushort rout = ref MemoryMarshal.GetReference(output);
            ref ushort ro = ref MemoryMarshal.GetReference(other);
            ref ushort rb = ref MemoryMarshal.GetReference(@base);
            var k = Vector256.Create(kl);
            var t = Vector256.Create(threshold);
            for (; i <= n - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                var o = Vector256.LoadUnsafe(ref ro, (nuint)i);
                var b = Vector256.LoadUnsafe(ref rb, (nuint)i);
                var (lo, hi) = Importance(o, b, k);
                var mask = Vector256.Narrow(Vector256.GreaterThanOrEqual(lo, t).AsUInt32(), Vector256.GreaterThanOrEqual(hi, t).AsUInt32());
                Vector256.ConditionalSelect(mask, o, b).StoreUnsafe(ref rout, (nuint)i);
                taken += BitOperations.PopCount(mask.ExtractMostSignificantBits());
            }
        }
        for (; i < n; i++)
        {
            bool take = Importance(other[i], @base[i], kl) >= threshold;
            output[i] = take ? other[i] : @base[i];
            if (take) taken++;
        }
        return taken;
    }

    /// <summary><see cref="RadixSelect.CountLow(int*, float*, long, long, uint, uint, uint)"/> of one row segment's
    /// importances: the keys whose top 16 bits equal b0, b1 or b2 count into histogram 0, 1 or 2 of
    /// <paramref name="bins"/>. Eight keys are tested at once; only a block holding a match is counted lane by lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void CountLow(int* bins, ReadOnlySpan<ushort> other, ReadOnlySpan<ushort> @base, float kl, uint b0, uint b1, uint b2)
    {
        int n = other.Length, i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref ushort ro = ref MemoryMarshal.GetReference(other);
            ref ushort rb = ref MemoryMarshal.GetReference(@base);
            var k = Vector256.Create(kl);
            var (t0, t1, t2) = (Vector256.Create(b0), Vector256.Create(b1), Vector256.Create(b2));
            for (; i <= n - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                var (lo, hi) = Importance(Vector256.LoadUnsafe(ref ro, (nuint)i), Vector256.LoadUnsafe(ref rb, (nuint)i), k);
                CountLanes(bins, OrderedKeys(lo), t0, t1, t2);
                CountLanes(bins, OrderedKeys(hi), t0, t1, t2);
            }
        }
        for (; i < n; i++) CountKey(bins, RadixSelect.ToOrderedKey(Importance(other[i], @base[i], kl)), b0, b1, b2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CountLanes(int* bins, Vector256<uint> keys, Vector256<uint> t0, Vector256<uint> t1, Vector256<uint> t2)
    {
        var top = Vector256.ShiftRightLogical(keys, 16);
        var any = Vector256.Equals(top, t0) | Vector256.Equals(top, t1) | Vector256.Equals(top, t2);
        if (any == Vector256<uint>.Zero) return;
        for (int lane = 0; lane < Vector256<uint>.Count; lane++)
            CountKey(bins, keys.GetElement(lane), t0.GetElement(0), t1.GetElement(0), t2.GetElement(0));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void CountKey(int* bins, uint key, uint b0, uint b1, uint b2)
    {
        uint top = key >> 16;
        if (top == b0) bins[key & 0xFFFF]++;
        else if (top == b1) bins[RadixSelect.Bins + (key & 0xFFFF)]++;
        else if (top == b2) bins[2 * RadixSelect.Bins + (key & 0xFFFF)]++;
    }

    /// <summary>The vector form of <see cref="RadixSelect.ToOrderedKey"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> OrderedKeys(Vector256<float> values)
    {
        var u = values.AsUInt32();
        return u ^ (Vector256.ShiftRightArithmetic(u.AsInt32(), 31).AsUInt32() | Vector256.Create(0x8000_0000u));
    }

    /// <summary>The importances of 16 bf16 pairs, as float32 in element order (low half, high half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector256<float> Lo, Vector256<float> Hi) Importance(Vector256<ushort> other, Vector256<ushort> @base, Vector256<float> kl)
    {
        var (olo, ohi) = Vector256.Widen(other);
        var (blo, bhi) = Vector256.Widen(@base);
        var lo = Vector256.Abs(Vector256.ShiftLeft(olo, 16).AsSingle() - Vector256.ShiftLeft(blo, 16).AsSingle()) * kl;
        var hi = Vector256.Abs(Vector256.ShiftLeft(ohi, 16).AsSingle() - Vector256.ShiftLeft(bhi, 16).AsSingle()) * kl;
        return (lo, hi);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Importance(ushort other, ushort @base, float kl) =>
        MathF.Abs(BitConverter.UInt32BitsToSingle((uint)other << 16) - BitConverter.UInt32BitsToSingle((uint)@base << 16)) * kl;
}
