using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Engine.Kernels.Cpu;

/// <summary>The per-element steps of <see cref="IElementwiseKernels.TaskArithmetic"/> on one block, vectorised
/// across elements: every element goes through the same float32 operations in the same order as the scalar
/// loops (the reference, which also handle each block's tail), so the vector and scalar paths agree bit for bit.
/// A delta of +0 added where a model does not count is exact: a sum of non-zero floats is never -0.</summary>
internal static class TaskArithmeticCpu
{
    private static readonly Vector256<uint> LaneBits = Vector256.Create(1u, 2, 4, 8, 16, 32, 64, 128);

    /// <summary><c>d = w (s (M - B))</c> in place over <paramref name="values"/> (which holds M), 0 where the mask
    /// drops the element; <paramref name="first"/> is the mask index of values[0].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void WeightedDelta(Span<float> values, ReadOnlySpan<float> baseValues, ulong[]? mask, long first, float scale, float weight)
    {
        int n = values.Length, e = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float rv = ref MemoryMarshal.GetReference(values);
            ref float rb = ref MemoryMarshal.GetReference(baseValues);
            var s = Vector256.Create(scale);
            var w = Vector256.Create(weight);
            for (; e <= n - Vector256<float>.Count; e += Vector256<float>.Count)
            {
                var d = w * ((Vector256.LoadUnsafe(ref rv, (nuint)e) - Vector256.LoadUnsafe(ref rb, (nuint)e)) * s);
                if (mask is not null) d &= Kept(mask, first + e);
                d.StoreUnsafe(ref rv, (nuint)e);
            }
        }
        for (; e < n; e++)
        {
            float d = values[e] - baseValues[e];
            values[e] = mask is null || IsSet(mask, first + e) ? weight * (d * scale) : 0f;
        }
    }

    /// <summary>The combine of the weighted deltas of one block: with consensus, the majority sign of
    /// <c>Σ_i d_i</c> (&gt;= 0: +) picks the deltas to add and the weights to divide by (0 counts as 1); without,
    /// every delta and <paramref name="linearDivisor"/>. Then <c>/ divisor</c> when normalising, <c>* lambda</c>,
    /// <c>+ B</c>. A NaN delta has no sign (it never agrees with the majority).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Combine(Span<float> result, ReadOnlySpan<float> baseValues, float[][] deltas, float[] weights, bool consensus, bool normalize, float lambda, float linearDivisor)
    {
        int k = deltas.Length, n = result.Length, e = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float rr = ref MemoryMarshal.GetReference(result);
            ref float rb = ref MemoryMarshal.GetReference(baseValues);
            var zero = Vector256<float>.Zero;
            for (; e <= n - Vector256<float>.Count; e += Vector256<float>.Count)
            {
                var mixed = zero;
                Vector256<float> divisor;
                if (consensus)
                {
                    var sum = zero;
                    for (int i = 0; i < k; i++) sum += Vector256.LoadUnsafe(ref deltas[i][0], (nuint)e);
                    var positive = Vector256.GreaterThanOrEqual(sum, zero);
                    divisor = zero;
                    for (int i = 0; i < k; i++)
                    {
                        var d = Vector256.LoadUnsafe(ref deltas[i][0], (nuint)e);
                        var agree = (Vector256.GreaterThan(d, zero) & positive) | Vector256.AndNot(Vector256.LessThan(d, zero), positive);
                        mixed += d & agree;
                        divisor += Vector256.Create(weights[i]) & agree;
                    }
                    divisor = Vector256.ConditionalSelect(Vector256.Equals(divisor, zero), Vector256<float>.One, divisor);
                }
                else
                {
                    for (int i = 0; i < k; i++) mixed += Vector256.LoadUnsafe(ref deltas[i][0], (nuint)e);
                    divisor = Vector256.Create(linearDivisor);
                }
                if (normalize) mixed /= divisor;
                if (lambda != 1f) mixed *= lambda;
                (Vector256.LoadUnsafe(ref rb, (nuint)e) + mixed).StoreUnsafe(ref rr, (nuint)e);
            }
        }
        for (; e < n; e++)
        {
            float mixed = 0, divisor;
            if (consensus)
            {
                float sum = 0;
                for (int i = 0; i < k; i++) sum += deltas[i][e];
                bool positive = sum >= 0;
                divisor = 0;
                for (int i = 0; i < k; i++)
                {
                    float wd = deltas[i][e];
                    if (positive ? wd > 0 : wd < 0)
                    {
                        mixed += wd;
                        divisor += weights[i];
                    }
                }
                if (divisor == 0) divisor = 1;
            }
            else
            {
                for (int i = 0; i < k; i++) mixed += deltas[i][e];
                divisor = linearDivisor;
            }
            if (normalize) mixed /= divisor;
            if (lambda != 1f) mixed *= lambda;
            result[e] = baseValues[e] + mixed;
        }
    }

    /// <summary>All-ones lanes for the kept elements among the eight starting at mask index <paramref name="index"/>.</summary>
    private static Vector256<float> Kept(ulong[] mask, long index)
    {
        int shift = (int)(index & 63);
        ulong word = mask[index >> 6] >> shift;
        if (shift > 56) word |= mask[(index >> 6) + 1] << (64 - shift);
        return Vector256.Equals(Vector256.Create((uint)word & 0xFFu) & LaneBits, LaneBits).AsSingle();
    }

    private static bool IsSet(ulong[] mask, long index) => (mask[index >> 6] & (1UL << (int)(index & 63))) != 0;
}
