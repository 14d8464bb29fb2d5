using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime.Cuda;
using Bits = ILGPU.Interop;

namespace Engine.Kernels.Ilgpu;

/// <summary>Scalar math for the ILGPU kernels (and, for <see cref="ExpRounded"/> / <see cref="LogRounded"/>, for the
/// CPU reference of the bf16 emulation too: the one source of those bits, copied in CUDA C), written out so the kernels need no intrinsics that differ
/// between ILGPU backends: the formulas of <c>kernels/cuda/engine_math.cuh</c> (expm1 and f(u) as the CPU
/// reference, a float64 log, bf16/f16 conversions), except exp: a polynomial here (about 1 ulp), the hardware
/// ex2 there (about 2 ulp). Plain C#, so tests also call
/// them directly against .NET's own conversions.</summary>
public static class IlgpuMath
{
    /// <summary>Stored dtype codes passed to the kernels.</summary>
    public const int F32 = 0, BF16 = 1, F16 = 2;

    /// <summary>Element <paramref name="i"/> of a stored tensor (bytes) as float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load(ArrayView<byte> raw, int dtype, long i)
    {
        if (dtype == BF16) return Bits.IntAsFloat((uint)raw.Cast<ushort>()[i] << 16);
        if (dtype == F16) return HalfToSingle(raw.Cast<ushort>()[i]);
        return raw.Cast<float>()[i];
    }

    /// <summary>Stores <paramref name="value"/> as element <paramref name="i"/> of a stored tensor.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(ArrayView<byte> raw, int dtype, long i, float value)
    {
        if (dtype == BF16) raw.Cast<ushort>()[i] = SingleToBFloat16(value);
        else if (dtype == F16) raw.Cast<ushort>()[i] = SingleToHalf(value);
        else raw.Cast<float>()[i] = value;
    }

    /// <summary>a * b rounded to float32 on its own. ILGPU emits a plain <c>mul.f32</c>, which ptxas may fuse with the
    /// add it feeds into one FMA (one rounding instead of two); the CPU reference rounds every product, so the
    /// kernels whose results must equal it bit for bit multiply and add through these (as elementwise.cu's mul_rn).
    /// Off the GPU (ILGPU's CPU accelerator) .NET never contracts, and the plain operators are used.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MulRn(float a, float b)
    {
        if (!CudaAsm.IsSupported) return a * b;
        CudaAsm.Emit("mul.rn.f32 %0, %1, %2;", out float r, a, b);
        return r;
    }

    /// <summary>a + b rounded to float32, never fused with the product feeding it (see <see cref="MulRn(float, float)"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float AddRn(float a, float b)
    {
        if (!CudaAsm.IsSupported) return a + b;
        CudaAsm.Emit("add.rn.f32 %0, %1, %2;", out float r, a, b);
        return r;
    }

    /// <summary>a * b rounded to float64 on its own (see <see cref="MulRn(float, float)"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double MulRn(double a, double b)
    {
        if (!CudaAsm.IsSupported) return a * b;
        CudaAsm.Emit("mul.rn.f64 %0, %1, %2;", out double r, a, b);
        return r;
    }

    /// <summary>a + b rounded to float64, never fused with the product feeding it (see <see cref="MulRn(float, float)"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static double AddRn(double a, double b)
    {
        if (!CudaAsm.IsSupported) return a + b;
        CudaAsm.Emit("add.rn.f64 %0, %1, %2;", out double r, a, b);
        return r;
    }

    /// <summary>Not NaN or ±infinity: the exponent bits are not all ones.</summary>
    public static bool IsFinite(float v) => (Bits.FloatAsInt(v) & 0x7F80_0000u) != 0x7F80_0000u;

    /// <summary>NaN: exponent all ones and a non-zero mantissa.</summary>
    public static bool IsNaN(float v) => (Bits.FloatAsInt(v) & 0x7FFF_FFFFu) > 0x7F80_0000u;

    /// <summary><c>|v|</c> by clearing the sign bit (NaN stays NaN).</summary>
    public static float Abs(float v) => Bits.IntAsFloat(Bits.FloatAsInt(v) & 0x7FFF_FFFFu);

    /// <summary>float32 to bf16 bits, round to nearest even, NaN kept NaN.</summary>
    public static ushort SingleToBFloat16(float value)
    {
        uint u = Bits.FloatAsInt(value);
        if ((u & 0x7FFF_FFFFu) > 0x7F80_0000u) return (ushort)((u >> 16) | 0x0040u);
        return (ushort)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    }

    /// <summary>IEEE binary16 bits to float32 (exact).</summary>
    public static float HalfToSingle(ushort h)
    {
        uint sign = (uint)(h & 0x8000) << 16;
        uint exponent = (uint)(h >> 10) & 0x1Fu;
        uint mantissa = h & 0x3FFu;
        if (exponent == 0x1F) return Bits.IntAsFloat(sign | 0x7F80_0000u | (mantissa << 13) | (mantissa != 0 ? 0x0040_0000u : 0u));
        if (exponent == 0)
        {
            float magnitude = mantissa * 5.9604644775390625e-8f;  // exact: mantissa < 2^10, scale 2^-24
            return Bits.IntAsFloat(sign | Bits.FloatAsInt(magnitude));
        }
        return Bits.IntAsFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }

    /// <summary>float32 to IEEE binary16 bits, round to nearest even (as <c>(Half)value</c>).</summary>
    public static ushort SingleToHalf(float value)
    {
        uint u = Bits.FloatAsInt(value);
        uint sign = (u >> 16) & 0x8000u;
        uint a = u & 0x7FFF_FFFFu;
        if (a > 0x7F80_0000u) return (ushort)(sign | 0x7E00u | ((a >> 13) & 0x3FFu));
        if (a >= 0x477F_F000u) return (ushort)(sign | 0x7C00u);  // >= 65520 rounds to infinity
        if (a >= 0x3880_0000u)
        {
            uint h = (a - 0x3800_0000u) >> 13;
            uint rest = a & 0x1FFFu;
            if (rest > 0x1000u || (rest == 0x1000u && (h & 1u) != 0)) h++;
            return (ushort)(sign | h);
        }
        if (a <= 0x3300_0000u) return (ushort)sign;  // <= 2^-25 rounds to (signed) zero
        uint m = (a & 0x7F_FFFFu) | 0x80_0000u;
        int shift = 126 - (int)(a >> 23);
        uint q = m >> shift;
        uint r = m & ((1u << shift) - 1u), halfway = 1u << (shift - 1);
        if (r > halfway || (r == halfway && (q & 1u) != 0)) q++;
        return (ushort)(sign | q);
    }

    /// <summary>exp(x) in float32: n = round(x / ln2), two-part ln2 reduction, degree-7 Taylor, 2^n in two steps.</summary>
    public static float Exp(float x)
    {
        if (x < -104f) return 0f;
        if (x > 88.72f) return float.PositiveInfinity;
        float t = x * 1.44269504088896341f;
        float n = (int)(t + (t >= 0f ? 0.5f : -0.5f));
        float r = x - n * 0.693145751953125f;
        r -= n * 1.428606765330187e-06f;
        float p = 1f / 5040f;
        p = p * r + 1f / 720f;
        p = p * r + 1f / 120f;
        p = p * r + 1f / 24f;
        p = p * r + 1f / 6f;
        p = p * r + 0.5f;
        p = p * r + 1f;
        p = p * r + 1f;
        int k = (int)n;
        if (k < -120) { p *= Bits.IntAsFloat(0x1F80_0000u); k += 64; }
        return p * Bits.IntAsFloat((uint)(k + 127) << 23);
    }

    /// <summary>exp(d) - 1: Taylor to degree 8 below |d| = 0.1 (as RowImportanceCpu.ExpM1).</summary>
    public static float ExpM1(float d)
    {
        if (Abs(d) >= 0.1f) return Exp(d) - 1f;
        float r = 1f + d * (1f / 8);
        r = 1f + d * (1f / 7) * r;
        r = 1f + d * (1f / 6) * r;
        r = 1f + d * (1f / 5) * r;
        r = 1f + d * (1f / 4) * r;
        r = 1f + d * (1f / 3) * r;
        r = 1f + d * (1f / 2) * r;
        return d * r;
    }

    /// <summary>ln(s) in float64 by s = m 2^e, m in [sqrt(1/2), sqrt(2)), and the atanh series to t^21.</summary>
    public static double Log(double s)
    {
        if (!(s > 0.0)) return s == 0.0 ? double.NegativeInfinity : double.NaN;
        ulong bits = Bits.FloatAsInt(s);
        int e = (int)((bits >> 52) & 0x7FF) - 1023;
        if (e == -1023)
        {
            s *= 18014398509481984.0;
            bits = Bits.FloatAsInt(s);
            e = (int)((bits >> 52) & 0x7FF) - 1023 - 54;
        }
        double m = Bits.IntAsFloat((bits & 0x000F_FFFF_FFFF_FFFFul) | 0x3FF0_0000_0000_0000ul);
        if (m > 1.4142135623730951) { m *= 0.5; e += 1; }
        double t = (m - 1.0) / (m + 1.0), t2 = t * t;
        double p = 1.0 / 21;
        p = p * t2 + 1.0 / 19; p = p * t2 + 1.0 / 17; p = p * t2 + 1.0 / 15; p = p * t2 + 1.0 / 13;
        p = p * t2 + 1.0 / 11; p = p * t2 + 1.0 / 9; p = p * t2 + 1.0 / 7; p = p * t2 + 1.0 / 5;
        p = p * t2 + 1.0 / 3; p = p * t2 + 1.0;
        return e * 0.6931471805599453 + 2.0 * t * p;
    }

    /// <summary>exp in float32 for the bf16 emulation, the same bits on the CPU, ILGPU's simulator and CUDA C
    /// (exp_rounded_f32, every operation .rn): evaluated in float64 with only IEEE +, *, conversions and bit
    /// operations (k = nearest integer to x / ln 2, r = x - k ln 2 in two parts, Taylor to degree 12 (2e-16 relative
    /// for |r| &lt;= ln2 / 2), times 2^k), then rounded once to float32, so the result is the correctly rounded exp but
    /// where the float64 value lies within 1e-16 of a rounding boundary. The CPU reference (RowImportanceCpu.BFloat16)
    /// calls it too. ILGPU's PTX leaves the float64 operations without .rn, so a GPU driver may fuse them into FMAs; a
    /// fused evaluation was checked to round to the same float32 on every input the emulation passes (x &lt;= 0) and
    /// for <see cref="LogRounded"/> on every positive bf16 value.</summary>
    public static float ExpRounded(float value)
    {
        if (IsNaN(value)) return value;
        double x = value;
        if (x < -104.0) return 0f;  // below 2^-150: rounds to zero
        if (x > 89.0) return float.PositiveInfinity;
        double t = x * 1.4426950408889634;
        double k = (long)(t + (t >= 0.0 ? 0.5 : -0.5));
        double r = (x - k * 0.6931471803691238) - k * 1.9082149292705877e-10;
        double p = 1.0 / 479001600;
        p = p * r + 1.0 / 39916800;
        p = p * r + 1.0 / 3628800;
        p = p * r + 1.0 / 362880;
        p = p * r + 1.0 / 40320;
        p = p * r + 1.0 / 5040;
        p = p * r + 1.0 / 720;
        p = p * r + 1.0 / 120;
        p = p * r + 1.0 / 24;
        p = p * r + 1.0 / 6;
        p = p * r + 0.5;
        p = p * r + 1.0;
        p = p * r + 1.0;
        return (float)(p * Bits.IntAsFloat((ulong)((long)k + 1023) << 52));
    }

    /// <summary>ln in float32 for the bf16 emulation: <see cref="Log"/> in float64, rounded once (CUDA C's copy:
    /// log_rounded_f32; see <see cref="ExpRounded"/> for where the bits are the same).</summary>
    public static float LogRounded(float value)
    {
        if (Bits.FloatAsInt(value) == 0x7F80_0000u) return value;  // +inf
        return (float)Log(value);
    }

    /// <summary>f(u) = (1+u) ln(1+u) - u: series below |u| = 0.1 (float32 Horner), closed form in float64 above.</summary>
    public static float KlTerm(float u)
    {
        if (Abs(u) >= 0.1f)
        {
            double w = 1.0 + u;
            return (float)(w * Log(w) - u);
        }
        float r = -1f / 72;
        r = r * u + 1f / 56;
        r = r * u + -1f / 42;
        r = r * u + 1f / 30;
        r = r * u + -1f / 20;
        r = r * u + 1f / 12;
        r = r * u + -1f / 6;
        r = r * u + 0.5f;
        return r * u * u;
    }

    /// <summary>The order-preserving uint image of a float (RadixSelect.ToOrderedKey).</summary>
    public static uint OrderedKey(float v)
    {
        uint u = Bits.FloatAsInt(v);
        return u ^ ((uint)((int)u >> 31) | 0x8000_0000u);
    }
}
