using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Engine.Kernels.Cpu;

/// <summary><c>out_i = importance_i &gt;= threshold ? other_i : base_i</c> on float32 blocks, vectorised.</summary>
internal static class MaskedSelectCpu
{
    /// <summary>Selects in place into <paramref name="baseAndOutput"/>; returns how many came from other.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Select(Span<float> baseAndOutput, ReadOnlySpan<float> other, ReadOnlySpan<float> importance, float threshold)
    {
        int n = baseAndOutput.Length, i = 0, taken = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float rb = ref MemoryMarshal.GetReference(baseAndOutput);
            ref float ro = ref MemoryMarshal.GetReference(other);
            ref float ri = ref MemoryMarshal.GetReference(importance);
            var t = Vector256.Create(threshold);
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var mask = Vector256.GreaterThanOrEqual(Vector256.LoadUnsafe(ref ri, (nuint)i), t);
                Vector256.ConditionalSelect(mask, Vector256.LoadUnsafe(ref ro, (nuint)i), Vector256.LoadUnsafe(ref rb, (nuint)i)).StoreUnsafe(ref rb, (nuint)i);
                taken += BitOperations.PopCount(mask.ExtractMostSignificantBits());
            }
        }
        for (; i < n; i++)
        {
            if (importance[i] >= threshold) { baseAndOutput[i] = other[i]; taken++; }
        }
        return taken;
    }

    /// <summary>The same selection on stored 16-bit elements (bf16 or f16 in and out): no conversion, the
    /// chosen element's bits are copied. Returns how many came from other.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int Select16(Span<ushort> output, ReadOnlySpan<ushort> other, ReadOnlySpan<ushort> @base, ReadOnlySpan<float> importance, float threshold)
    {
        int n = output.Length, i = 0, taken = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref ushort rout = ref MemoryMarshal.GetReference(output);
            ref ushort ro = ref MemoryMarshal.GetReference(other);
            ref ushort rb = ref MemoryMarshal.GetReference(@base);
            ref float ri = ref MemoryMarshal.GetReference(importance);
            var t = Vector256.Create(threshold);
            for (; i <= n - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                var lo = Vector256.GreaterThanOrEqual(Vector256.LoadUnsafe(ref ri, (nuint)i), t).AsUInt32();
                var hi = Vector256.GreaterThanOrEqual(Vector256.LoadUnsafe(ref ri, (nuint)(i + Vector256<float>.Count)), t).AsUInt32();
                var mask = Vector256.Narrow(lo, hi);
                Vector256.ConditionalSelect(mask, Vector256.LoadUnsafe(ref ro, (nuint)i), Vector256.LoadUnsafe(ref rb, (nuint)i)).StoreUnsafe(ref rout, (nuint)i);
                taken += BitOperations.PopCount(mask.ExtractMostSignificantBits());
            }
        }
        for (; i < n; i++)
        {
            bool take = importance[i] >= threshold;
            output[i] = take ? other[i] : @base[i];
            if (take) taken++;
        }
        return taken;
    }

    /// <summary>The same selection on stored 32-bit floats, copying bits.</summary>
    public static int Select32(Span<float> output, ReadOnlySpan<float> other, ReadOnlySpan<float> @base, ReadOnlySpan<float> importance, float threshold)
    {
        @base.CopyTo(output);
        return Select(output, other, importance, threshold);
    }
}
