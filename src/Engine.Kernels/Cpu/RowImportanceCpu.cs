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
            X = new float[n]; Y = new float[n]; P = new float[n]; Q = new float[n]; LogP = new float[n]; LogQ = new float[n];
        }

        public readonly float[] X, Y, P, Q, LogP, LogQ;
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
        CheckFinite(x, "other", start);
        CheckFinite(y, "base", start);

        var a = s.P.AsSpan(0, n);
        var q = s.Q.AsSpan(0, n);
        var u = s.LogP.AsSpan(0, n);
        var f = s.LogQ.AsSpan(0, n);
        double cx = LogSumExp(a, x);
        double cy = LogSumExp(q, y);
        // q0 = softmax(y) = b / Sy, recomputed as exp(y - cy) to avoid a second rounding.
        TensorPrimitives.Subtract(y, (float)cy, q);
        TensorPrimitives.Exp(q, q);
        // u = q0 * expm1((x - y) - (cx - cy)) / (q0 + eps)
        TensorPrimitives.Subtract(x, y, u);
        TensorPrimitives.Subtract(u, (float)(cx - cy), u);
        ExpM1(u);
        TensorPrimitives.Multiply(u, q, u);
        TensorPrimitives.Add(q, Epsilon, q);
        TensorPrimitives.Divide(u, q, u);
        KlTerms(f, u);
        double kl = Float64Reductions.Dot(q, f);

        TensorPrimitives.Subtract(x, y, a);
        TensorPrimitives.Abs(a, a);
        TensorPrimitives.Multiply(a, (float)kl, importance);
        return kl;
    }

    /// <summary>Writes <c>exp(x - max x)</c> to <paramref name="e"/> and returns <c>max x + ln sum e</c> (float64).</summary>
    private static double LogSumExp(Span<float> e, ReadOnlySpan<float> x)
    {
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, e);
        TensorPrimitives.Exp(e, e);
        return max + Math.Log(Float64Reductions.Sum(e));
    }

    /// <summary><c>f(u) = (1+u) ln(1+u) - u</c>; below |u| = 0.1 by its alternating series
    /// <c>sum_{k&gt;=2} (-1)^k u^k / (k (k-1))</c> to degree 9 (truncation below 1e-10 relative), which avoids
    /// the cancellation of the closed form.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void KlTerms(Span<float> f, ReadOnlySpan<float> u)
    {
        int i = 0, n = u.Length;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float ru = ref MemoryMarshal.GetReference(u);
            ref float rf = ref MemoryMarshal.GetReference(f);
            var small = Vector256.Create(0.1f);
            var one = Vector256<float>.One;
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var v = Vector256.LoadUnsafe(ref ru, (nuint)i);
                var series = Series(v);
                var mask = Vector256.LessThan(Vector256.Abs(v), small);
                Vector256<float> result;
                if (mask.ExtractMostSignificantBits() == 0xFF)
                {
                    result = series;
                }
                else
                {
                    Span<float> lanes = stackalloc float[Vector256<float>.Count];
                    for (int k = 0; k < lanes.Length; k++) lanes[k] = ClosedForm(v.GetElement(k));
                    result = Vector256.ConditionalSelect(mask, series, Vector256.Create<float>(lanes));
                }
                result.StoreUnsafe(ref rf, (nuint)i);
            }
        }
        for (; i < n; i++) f[i] = MathF.Abs(u[i]) < 0.1f ? SeriesScalar(u[i]) : ClosedForm(u[i]);
    }

    /// <summary>In-place <c>exp(d) - 1</c> without cancellation: Taylor to degree 8 below |d| = 0.1
    /// (TensorPrimitives.ExpM1 computes exp(d) - 1 and loses the digits we need).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void ExpM1(Span<float> d)
    {
        int i = 0, n = d.Length;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float r = ref MemoryMarshal.GetReference(d);
            var small = Vector256.Create(0.1f);
            for (; i <= n - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var v = Vector256.LoadUnsafe(ref r, (nuint)i);
                var taylor = Taylor(v);
                var mask = Vector256.LessThan(Vector256.Abs(v), small);
                var result = mask.ExtractMostSignificantBits() == 0xFF ? taylor
                    : Vector256.ConditionalSelect(mask, taylor, Vector256.Exp(v) - Vector256<float>.One);
                result.StoreUnsafe(ref r, (nuint)i);
            }
        }
        for (; i < n; i++) d[i] = MathF.Abs(d[i]) < 0.1f ? Taylor(Vector256.Create(d[i])).GetElement(0) : MathF.Exp(d[i]) - 1f;

        static Vector256<float> Taylor(Vector256<float> x)
        {
            // x (1 + x/2 (1 + x/3 (1 + x/4 (1 + x/5 (1 + x/6 (1 + x/7 (1 + x/8)))))))
            var one = Vector256<float>.One;
            var r = one + x * Vector256.Create(1f / 8);
            r = one + x * Vector256.Create(1f / 7) * r;
            r = one + x * Vector256.Create(1f / 6) * r;
            r = one + x * Vector256.Create(1f / 5) * r;
            r = one + x * Vector256.Create(1f / 4) * r;
            r = one + x * Vector256.Create(1f / 3) * r;
            r = one + x * Vector256.Create(1f / 2) * r;
            return x * r;
        }
    }

    private static float ClosedForm(float u) => (float)((1.0 + u) * Math.Log(1.0 + u) - u);

    private static Vector256<float> Series(Vector256<float> u)
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
        return r * u * u;
    }

    private static float SeriesScalar(float u) => Series(Vector256.Create(u)).GetElement(0);

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
    /// (softmax and sums accumulate in float32 internally, as torch's CPU kernels do).</summary>
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
            float log = R(MathF.Log(ratio));
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
        for (int j = 0; j < x.Length; j++) sum += p[j] = MathF.Exp(x[j] - max);
        for (int j = 0; j < x.Length; j++) p[j] = R(p[j] / sum);
    }

    private static float R(float v) => DTypeConversion.BFloat16ToSingle(DTypeConversion.SingleToBFloat16(v));
}
