using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
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

        var p = s.P.AsSpan(0, n);
        var q = s.Q.AsSpan(0, n);
        SoftmaxPlusEpsilon(p, x);
        SoftmaxPlusEpsilon(q, y);
        var logP = s.LogP.AsSpan(0, n);
        var logQ = s.LogQ.AsSpan(0, n);
        TensorPrimitives.Log(p, logP);
        TensorPrimitives.Log(q, logQ);
        double kl = Float64Reductions.DotDifference(p, logP, logQ);

        // importance = |x - y| * KL, reusing P as the difference buffer.
        TensorPrimitives.Subtract(x, y, p);
        TensorPrimitives.Abs(p, p);
        TensorPrimitives.Multiply(p, (float)kl, importance);
        return kl;
    }

    /// <summary><c>p = exp(x - max) / sum + eps</c>, the sum in float64.</summary>
    private static void SoftmaxPlusEpsilon(Span<float> p, ReadOnlySpan<float> x)
    {
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, p);
        TensorPrimitives.Exp(p, p);
        float inverse = (float)(1.0 / Float64Reductions.Sum(p));
        TensorPrimitives.Multiply(p, inverse, p);
        TensorPrimitives.Add(p, Epsilon, p);
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
