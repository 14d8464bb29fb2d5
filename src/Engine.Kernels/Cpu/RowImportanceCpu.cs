using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Engine.Core.Numerics;

namespace Engine.Kernels.Cpu;

/// <summary>The Arcee Fusion importance of one row on the CPU (float32 element math, float64 sums), and its
/// bfloat16 variant that rounds every intermediate as torch does on bf16 tensors.</summary>
internal static class RowImportanceCpu
{
    /// <summary>The epsilon mergekit adds to both softmaxes.</summary>
    public const float Epsilon = 1e-8f;

    /// <summary>Per-thread buffers of one row length.</summary>
    public sealed class Scratch
    {
        public Scratch(int n)
        {
            X = new float[n]; Y = new float[n]; P = new float[n]; Q = new float[n];
        }

        public readonly float[] X, Y, P, Q;
    }

    /// <summary>Computes KL for row <paramref name="row"/> and writes its importances; returns the KL.</summary>
    /// <remarks>The naive <c>sum p (log p - log q)</c> in float32 loses most digits when the rows are close
    /// (the usual case for fine-tuned experts): its terms cancel to a second-order quantity. We use the
    /// identity <c>KL = sum_j q_j f(u_j)</c> with <c>u = p/q - 1</c> and <c>f(u) = (1+u) ln(1+u) - u &gt;= 0</c>
    /// (exact because <c>sum p = sum q</c>), with <c>u</c> from <c>expm1</c> of the logit difference, so every
    /// term is non-negative and accurate to float32 rounding, and the sum is taken in float64.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double Float32(Span<float> importance, RawTensor other, RawTensor @base, long row, int n, Scratch s)
    {
        long start = row * n;
        var x = s.X.AsSpan(0, n);
        var y = s.Y.AsSpan(0, n);
        other.ReadSingles(start, x);
        @base.ReadSingles(start, y);

        var (maxX, maxY, finite) = MaxAndFinite(x, y);
        if (!finite)
        {
            CheckFinite(x, "other", start);
            CheckFinite(y, "base", start);
        }
        var expY = s.P.AsSpan(0, n);
        var (sumX, sumY) = ExpSums(expY, x, y, maxX, maxY);
        double cx = maxX + Math.Log(sumX), cy = maxY + Math.Log(sumY);
        double kl = KlSum(x, y, expY, (float)(cx - cy), (float)(1.0 / sumY));
        ScaledAbsDifference(importance, x, y, (float)kl);
        return kl;
    }

    /// <summary>Row maxima, and whether every element is finite (<c>v - v</c> is 0 exactly for finite v).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (float MaxX, float MaxY, bool Finite) MaxAndFinite(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        int i = 0, n = x.Length;
        float maxX = float.NegativeInfinity, maxY = float.NegativeInfinity, probe = 0;
        if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            ref float rx = ref MemoryMarshal.GetReference(x);
            ref float ry = ref MemoryMarshal.GetReference(y);
            var mx = Vector256.Create(float.NegativeInfinity);
            var my = mx;
            var acc = Vector256<float>.Zero;
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var vx = Vector256.LoadUnsafe(ref rx, (nuint)i);
                var vy = Vector256.LoadUnsafe(ref ry, (nuint)i);
                mx = Vector256.Max(mx, vx);
                my = Vector256.Max(my, vy);
                acc += (vx - vx) + (vy - vy);
            }
            for (int k = 0; k < Vector256<float>.Count; k++)
            {
                maxX = MathF.Max(maxX, mx.GetElement(k));
                maxY = MathF.Max(maxY, my.GetElement(k));
                probe += acc.GetElement(k);
            }
        }
        for (; i < n; i++)
        {
            maxX = MathF.Max(maxX, x[i]);
            maxY = MathF.Max(maxY, y[i]);
            probe += (x[i] - x[i]) + (y[i] - y[i]);
        }
        return (maxX, maxY, probe == 0);
    }

    /// <summary><c>sum exp(x - maxX)</c> and <c>sum exp(y - maxY)</c>, summed in float64; <c>exp(y - maxY)</c> is
    /// kept in <paramref name="expY"/> so the softmax of y costs no second exponential.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (double SumX, double SumY) ExpSums(Span<float> expY, ReadOnlySpan<float> x, ReadOnlySpan<float> y, float maxX, float maxY)
    {
        int i = 0, n = x.Length;
        double sumX = 0, sumY = 0;
        if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            ref float rx = ref MemoryMarshal.GetReference(x);
            ref float ry = ref MemoryMarshal.GetReference(y);
            ref float re = ref MemoryMarshal.GetReference(expY);
            var mx = Vector256.Create(maxX);
            var my = Vector256.Create(maxY);
            var ax = Vector256<double>.Zero;
            var ay = Vector256<double>.Zero;
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var (xl, xh) = Vector256.Widen(Vector256.Exp(Vector256.LoadUnsafe(ref rx, (nuint)i) - mx));
                var ey = Vector256.Exp(Vector256.LoadUnsafe(ref ry, (nuint)i) - my);
                ey.StoreUnsafe(ref re, (nuint)i);
                var (yl, yh) = Vector256.Widen(ey);
                ax += xl + xh;
                ay += yl + yh;
            }
            sumX = Vector256.Sum(ax);
            sumY = Vector256.Sum(ay);
        }
        for (; i < n; i++)
        {
            sumX += MathF.Exp(x[i] - maxX);
            sumY += expY[i] = MathF.Exp(y[i] - maxY);
        }
        return (sumX, sumY);
    }

    /// <summary><c>KL = sum_j (q0_j + eps) f(u_j)</c> with <c>q0 = exp(y - maxY) / sumY</c> and
    /// <c>u = q0 expm1((x - y) - (cx - cy)) / (q0 + eps)</c>, summed in float64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double KlSum(ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> expY, float shift, float inverseSumY)
    {
        int i = 0, n = x.Length;
        double kl = 0;
        if (Vector256.IsHardwareAccelerated && n >= Vector256<float>.Count)
        {
            ref float rx = ref MemoryMarshal.GetReference(x);
            ref float ry = ref MemoryMarshal.GetReference(y);
            ref float re = ref MemoryMarshal.GetReference(expY);
            var acc = Vector256<double>.Zero;
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var q0 = Vector256.LoadUnsafe(ref re, (nuint)i) * Vector256.Create(inverseSumY);
                var (lo, hi) = Vector256.Widen(KlTerm(Vector256.LoadUnsafe(ref rx, (nuint)i), Vector256.LoadUnsafe(ref ry, (nuint)i), q0, shift));
                acc += lo + hi;
            }
            kl = Vector256.Sum(acc);
        }
        for (; i < n; i++) kl += KlTerm(Vector256.Create(x[i]), Vector256.Create(y[i]), Vector256.Create(expY[i] * inverseSumY), shift).GetElement(0);
        return kl;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> KlTerm(Vector256<float> x, Vector256<float> y, Vector256<float> q0, float shift)
    {
        var q = q0 + Vector256.Create(Epsilon);
        var u = q0 * ExpM1((x - y) - Vector256.Create(shift)) / q;
        return q * KlTerm(u);
    }

    /// <summary><c>importance = |x - y| * kl</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ScaledAbsDifference(Span<float> importance, ReadOnlySpan<float> x, ReadOnlySpan<float> y, float kl)
    {
        int i = 0, n = x.Length;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float rx = ref MemoryMarshal.GetReference(x);
            ref float ry = ref MemoryMarshal.GetReference(y);
            ref float ri = ref MemoryMarshal.GetReference(importance);
            var k = Vector256.Create(kl);
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
                (Vector256.Abs(Vector256.LoadUnsafe(ref rx, (nuint)i) - Vector256.LoadUnsafe(ref ry, (nuint)i)) * k).StoreUnsafe(ref ri, (nuint)i);
        }
        for (; i < n; i++) importance[i] = MathF.Abs(x[i] - y[i]) * kl;
    }

    /// <summary><c>f(u) = (1+u) ln(1+u) - u</c>; below |u| = 0.1 by its alternating series
    /// <c>sum_{k&gt;=2} (-1)^k u^k / (k (k-1))</c> to degree 9 (truncation below 1e-9 relative), which avoids
    /// the cancellation of the closed form; above, the closed form in float64.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> KlTerm(Vector256<float> u)
    {
        // Horner form of u^2 (1/2 - u/6 + u^2/12 - u^3/20 + u^4/30 - u^5/42 + u^6/56 - u^7/72).
        var r = Vector256.Create(-1f / 72);
        r = r * u + Vector256.Create(1f / 56);
        r = r * u + Vector256.Create(-1f / 42);
        r = r * u + Vector256.Create(1f / 30);
        r = r * u + Vector256.Create(-1f / 20);
        r = r * u + Vector256.Create(1f / 12);
        r = r * u + Vector256.Create(-1f / 6);
        r = r * u + Vector256.Create(0.5f);
        var series = r * u * u;
        var small = Vector256.LessThan(Vector256.Abs(u), Vector256.Create(0.1f));
        if (small.ExtractMostSignificantBits() == 0xFF) return series;
        Span<float> lanes = stackalloc float[Vector256<float>.Count];
        for (int k = 0; k < lanes.Length; k++)
        {
            double v = u.GetElement(k);
            lanes[k] = (float)((1.0 + v) * Math.Log(1.0 + v) - v);
        }
        return Vector256.ConditionalSelect(small, series, Vector256.Create<float>(lanes));
    }

    /// <summary><c>exp(d) - 1</c> without cancellation: Taylor to degree 8 below |d| = 0.1, else
    /// <c>exp(d) - 1</c> (TensorPrimitives.ExpM1 computes exp(d) - 1 everywhere and loses the digits we need).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> ExpM1(Vector256<float> d)
    {
        // d (1 + d/2 (1 + d/3 (1 + d/4 (1 + d/5 (1 + d/6 (1 + d/7 (1 + d/8)))))))
        var one = Vector256<float>.One;
        var r = one + d * Vector256.Create(1f / 8);
        r = one + d * Vector256.Create(1f / 7) * r;
        r = one + d * Vector256.Create(1f / 6) * r;
        r = one + d * Vector256.Create(1f / 5) * r;
        r = one + d * Vector256.Create(1f / 4) * r;
        r = one + d * Vector256.Create(1f / 3) * r;
        r = one + d * Vector256.Create(1f / 2) * r;
        var taylor = d * r;
        var small = Vector256.LessThan(Vector256.Abs(d), Vector256.Create(0.1f));
        return small.ExtractMostSignificantBits() == 0xFF ? taylor : Vector256.ConditionalSelect(small, taylor, Vector256.Exp(d) - one);
    }

    private static void CheckFinite(ReadOnlySpan<float> x, string which, long start)
    {
        float lo = TensorPrimitives.Min(x), hi = TensorPrimitives.Max(x);
        if (float.IsFinite(lo) && float.IsFinite(hi)) return;
        for (int i = 0; i < x.Length; i++)
        {
            if (!float.IsFinite(x[i])) throw new NonFiniteValueException(which, start + i);
        }
    }

    /// <summary>mergekit's computation on bf16 tensors: each torch op's result rounded to bfloat16
    /// (softmax and sums accumulate in float32 internally, as torch's CPU kernels do). Sums run in element order and
    /// exp / ln are <see cref="Ilgpu.IlgpuMath.ExpRounded"/> / <see cref="Ilgpu.IlgpuMath.LogRounded"/> rather than the
    /// platform's, so the GPU kernels (one thread per row) repeat these bits exactly.</summary>
    public static double BFloat16(Span<float> importance, RawTensor other, RawTensor @base, long row, int n, Scratch s)
    {
        long start = row * n;
        var x = s.X.AsSpan(0, n);
        var y = s.Y.AsSpan(0, n);
        other.ReadSingles(start, x);
        @base.ReadSingles(start, y);
        CheckFinite(x, "other", start);
        CheckFinite(y, "base", start);
        for (int j = 0; j < n; j++) { x[j] = R(x[j]); y[j] = R(y[j]); }
        var p = s.P.AsSpan(0, n);
        var q = s.Q.AsSpan(0, n);
        SoftmaxBf16(p, x);
        SoftmaxBf16(q, y);
        float sum = 0;
        for (int j = 0; j < n; j++)
        {
            float pj = R(p[j] + Epsilon), qj = R(q[j] + Epsilon);
            float ratio = R(pj / qj);
            float log = R(Ilgpu.IlgpuMath.LogRounded(ratio));
            sum += R(pj * log);
        }
        float kl = R(sum);
        for (int j = 0; j < n; j++) importance[j] = R(R(MathF.Abs(R(x[j] - y[j]))) * kl);
        return kl;
    }

    private static void SoftmaxBf16(Span<float> p, ReadOnlySpan<float> x)
    {
        float max = TensorPrimitives.Max(x);
        float sum = 0;
        for (int j = 0; j < x.Length; j++) sum += p[j] = Ilgpu.IlgpuMath.ExpRounded(x[j] - max);
        for (int j = 0; j < x.Length; j++) p[j] = R(p[j] / sum);
    }

    private static float R(float v) => DTypeConversion.RoundToBFloat16(v);
}
