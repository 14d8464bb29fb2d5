using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Engine.Kernels.Cpu;

/// <summary>Sums of float32 data accumulated in float64, vectorised with a fixed order (so the result
/// does not depend on the thread that computes it).</summary>
public static class Float64Reductions
{
    /// <summary><c>sum_i x_i</c> in float64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double Sum(ReadOnlySpan<float> x)
    {
        int i = 0;
        double total = 0;
        if (Vector256.IsHardwareAccelerated && x.Length >= Vector256<float>.Count)
        {
            ref float r = ref MemoryMarshal.GetReference(x);
            var acc0 = Vector256<double>.Zero;
            var acc1 = Vector256<double>.Zero;
            for (; i <= x.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref r, (nuint)i));
                acc0 += lo;
                acc1 += hi;
            }
            total = Vector256.Sum(acc0 + acc1);
        }
        for (; i < x.Length; i++) total += x[i];
        return total;
    }

    /// <summary><c>sum_i a_i * b_i</c>, the products formed in float32 and summed in float64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        int n = a.Length;
        if (b.Length != n) throw new ArgumentException("lengths differ");
        int i = 0;
        double total = 0;
        if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            ref float ra = ref MemoryMarshal.GetReference(a);
            ref float rb = ref MemoryMarshal.GetReference(b);
            var acc0 = Vector256<double>.Zero;
            var acc1 = Vector256<double>.Zero;
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref ra, (nuint)i) * Vector256.LoadUnsafe(ref rb, (nuint)i));
                acc0 += lo;
                acc1 += hi;
            }
            total = Vector256.Sum(acc0 + acc1);
        }
        for (; i < n; i++) total += a[i] * b[i];
        return total;
    }
}
