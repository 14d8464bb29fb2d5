// engine_math.cuh: device helpers shared by the merge kernels. Compiled by clang-14 with no CUDA SDK
// (-nocudainc -nocudalib), so nothing here uses libdevice: exp, log, expm1 and the dtype conversions are
// written out, and the ILGPU kernels (src/Engine.Kernels/Ilgpu/IlgpuMath.cs) use the same formulas (but for exp).
// CPU references: RowImportanceCpu (exp/expm1/f(u)), DTypeConversion (bf16 RNE, f16), RadixSelect.ToOrderedKey.
#pragma once
#include <__clang_cuda_builtin_vars.h>

#define KERNEL extern "C" __attribute__((global))
#define DEVICE static __attribute__((device)) __attribute__((always_inline)) inline
#define SHARED __attribute__((shared))

typedef unsigned long long u64;
typedef long long i64;

// The block barrier. Not __syncthreads: clang-14 lowers it to llvm.nvvm.barrier0, across which LLVM moved a
// load of an internal __shared__ array (a block reduction's result read before thread 0 had written it; seen
// in row_importance on an H100). An asm barrier with a memory clobber, and shared scratch read and written
// through volatile pointers, keep every shared access on its side of the barrier.
DEVICE void block_barrier() { asm volatile("bar.sync 0;" ::: "memory"); }

// Atomics through the NVVM builtins (the CUDA headers that define atomicAdd are not used).
DEVICE void atomic_add_u32(unsigned* p, unsigned v) { __nvvm_atom_add_gen_i((int*)p, (int)v); }
DEVICE void atomic_add_u64(u64* p, u64 v) { __nvvm_atom_add_gen_ll((long long*)p, (long long)v); }
DEVICE void atomic_min_u64(u64* p, u64 v) { __nvvm_atom_min_gen_ull(p, v); }

// A 16-byte vector load.
struct __attribute__((aligned(16))) float4_t { float x, y, z, w; };

// Stored dtypes, as the host passes them.
enum { DTYPE_F32 = 0, DTYPE_BF16 = 1, DTYPE_F16 = 2 };

DEVICE unsigned float_bits(float f) { return __builtin_bit_cast(unsigned, f); }
DEVICE float bits_float(unsigned u) { return __builtin_bit_cast(float, u); }
DEVICE u64 double_bits(double d) { return __builtin_bit_cast(u64, d); }
DEVICE double bits_double(u64 u) { return __builtin_bit_cast(double, u); }

DEVICE float half_to_float(unsigned short h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
DEVICE unsigned short float_to_half(float f) { unsigned short h; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f)); return h; }

// float32 to bf16 bits: round to nearest even, NaN kept NaN (quietened), as DTypeConversion.SingleToBFloat16.
DEVICE unsigned short float_to_bf16(float f)
{
    unsigned u = float_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (unsigned short)((u >> 16) | 0x0040u);
    return (unsigned short)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

// Element i of a stored tensor as float32.
DEVICE float load_as_float(const void* p, int dtype, i64 i)
{
    if (dtype == DTYPE_BF16) return bits_float((unsigned)((const unsigned short*)p)[i] << 16);
    if (dtype == DTYPE_F16) return half_to_float(((const unsigned short*)p)[i]);
    return ((const float*)p)[i];
}

DEVICE void store_from_float(void* p, int dtype, i64 i, float v)
{
    if (dtype == DTYPE_BF16) ((unsigned short*)p)[i] = float_to_bf16(v);
    else if (dtype == DTYPE_F16) ((unsigned short*)p)[i] = float_to_half(v);
    else ((float*)p)[i] = v;
}

DEVICE bool is_finite(float v) { return (float_bits(v) & 0x7F800000u) != 0x7F800000u; }

// Rounded IEEE arithmetic that neither clang nor ptxas fuses into an FMA (clang contracts a * b + c by default and
// ignores the contract pragma): for results that must repeat the CPU's bits.
DEVICE float mul_rn(float a, float b) { float r; asm("mul.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b)); return r; }
DEVICE float add_rn(float a, float b) { float r; asm("add.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b)); return r; }
DEVICE float div_rn(float a, float b) { float r; asm("div.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b)); return r; }
DEVICE double dmul_rn(double a, double b) { double r; asm("mul.rn.f64 %0, %1, %2;" : "=d"(r) : "d"(a), "d"(b)); return r; }
DEVICE double dadd_rn(double a, double b) { double r; asm("add.rn.f64 %0, %1, %2;" : "=d"(r) : "d"(a), "d"(b)); return r; }
DEVICE double ddiv_rn(double a, double b) { double r; asm("div.rn.f64 %0, %1, %2;" : "=d"(r) : "d"(a), "d"(b)); return r; }
DEVICE float d2f_rn(double a) { float r; asm("cvt.rn.f32.f64 %0, %1;" : "=f"(r) : "d"(a)); return r; }

// float32 rounded to the nearest bf16 value (even on ties), every NaN the positive quiet NaN 0x7FC00000:
// DTypeConversion.RoundToBFloat16 (the CPU's arithmetic NaN is negative, the GPU's positive).
DEVICE float round_bf16(float v) { return v != v ? bits_float(0x7FC00000u) : bits_float((unsigned)float_to_bf16(v) << 16); }

// exp in float32 for the bf16 emulation, the same bits as IlgpuMath.ExpRounded (which the CPU reference calls):
// float64 evaluation, k = nearest integer to x / ln 2, r = x - k ln 2 in two parts, Taylor to degree 12, times 2^k,
// rounded once; every operation rounded as written.
DEVICE float exp_rounded_f32(float value)
{
    double x = (double)value;
    if (x != x) return value;
    if (x < -104.0) return 0.0f;
    if (x > 89.0) return bits_float(0x7F800000u);
    double t = dmul_rn(x, 1.4426950408889634);
    double k = (double)(i64)dadd_rn(t, t >= 0.0 ? 0.5 : -0.5);
    double r = dadd_rn(dadd_rn(x, -dmul_rn(k, 0.6931471803691238)), -dmul_rn(k, 1.9082149292705877e-10));
    double p = 1.0 / 479001600;
    p = dadd_rn(dmul_rn(p, r), 1.0 / 39916800);
    p = dadd_rn(dmul_rn(p, r), 1.0 / 3628800);
    p = dadd_rn(dmul_rn(p, r), 1.0 / 362880);
    p = dadd_rn(dmul_rn(p, r), 1.0 / 40320);
    p = dadd_rn(dmul_rn(p, r), 1.0 / 5040);
    p = dadd_rn(dmul_rn(p, r), 1.0 / 720);
    p = dadd_rn(dmul_rn(p, r), 1.0 / 120);
    p = dadd_rn(dmul_rn(p, r), 1.0 / 24);
    p = dadd_rn(dmul_rn(p, r), 1.0 / 6);
    p = dadd_rn(dmul_rn(p, r), 0.5);
    p = dadd_rn(dmul_rn(p, r), 1.0);
    p = dadd_rn(dmul_rn(p, r), 1.0);
    return d2f_rn(dmul_rn(p, bits_double((u64)((i64)k + 1023) << 52)));
}

// exp(x) in float32 to about 2 ulp with the hardware ex2 (one MUFU op instead of a polynomial: the row kernel
// is arithmetic-bound): t = x log2(e) is split into hi + lo (the FMA recovers the product's rounding error, which
// is up to 2e-6 relative for |t| near 128), 2^hi by ex2.approx (2^-22.5 relative), times 1 + lo ln 2.
// The ILGPU kernels use the polynomial of IlgpuMath.Exp instead; both are within KernelTolerances.
DEVICE float exp_f32(float x)
{
    float t = x * 1.44269504f;
    float lo = __builtin_fmaf(x, 1.44269504f, -t) + x * 1.92596299e-8f;
    float e = __nvvm_ex2_approx_f(t);
    return __builtin_fmaf(e, lo * 0.693147181f, e);
}

// exp(d) - 1 without cancellation: the Taylor series to degree 8 below |d| = 0.1, as RowImportanceCpu.ExpM1.
DEVICE float expm1_f32(float d)
{
    if (__builtin_fabsf(d) >= 0.1f) return exp_f32(d) - 1.0f;
    float r = 1.0f + d * (1.0f / 8);
    r = 1.0f + d * (1.0f / 7) * r;
    r = 1.0f + d * (1.0f / 6) * r;
    r = 1.0f + d * (1.0f / 5) * r;
    r = 1.0f + d * (1.0f / 4) * r;
    r = 1.0f + d * (1.0f / 3) * r;
    r = 1.0f + d * (1.0f / 2) * r;
    return d * r;
}

// ln(s) in float64 to a few ulp: s = m 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(t), t = (m-1)/(m+1),
// |t| <= 0.172, by its odd series to t^21 (truncation below 1e-18).
DEVICE double log_f64(double s)
{
    if (!(s > 0.0)) return s == 0.0 ? -bits_double(0x7FF0000000000000ull) : bits_double(0x7FF8000000000000ull);
    u64 bits = double_bits(s);
    int e = (int)((bits >> 52) & 0x7FF) - 1023;
    if (e == -1023) { s *= 18014398509481984.0; bits = double_bits(s); e = (int)((bits >> 52) & 0x7FF) - 1023 - 54; }  // subnormal: scale by 2^54
    double m = bits_double((bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull);
    if (m > 1.4142135623730951) { m *= 0.5; e += 1; }
    double t = (m - 1.0) / (m + 1.0), t2 = t * t;
    double p = 1.0 / 21;
    p = p * t2 + 1.0 / 19; p = p * t2 + 1.0 / 17; p = p * t2 + 1.0 / 15; p = p * t2 + 1.0 / 13;
    p = p * t2 + 1.0 / 11; p = p * t2 + 1.0 / 9; p = p * t2 + 1.0 / 7; p = p * t2 + 1.0 / 5;
    p = p * t2 + 1.0 / 3; p = p * t2 + 1.0;
    return e * 0.6931471805599453 + 2.0 * t * p;
}

// ln in float32 for the bf16 emulation, the same bits as IlgpuMath.LogRounded: log_f64's formula with every
// operation rounded as written, rounded once to float32.
DEVICE float log_rounded_f32(float value)
{
    if (float_bits(value) == 0x7F800000u) return value;
    double s = (double)value;
    if (!(s > 0.0)) return s == 0.0 ? bits_float(0xFF800000u) : bits_float(0x7FC00000u);
    u64 bits = double_bits(s);
    int e = (int)((bits >> 52) & 0x7FF) - 1023;
    if (e == -1023) { s = dmul_rn(s, 18014398509481984.0); bits = double_bits(s); e = (int)((bits >> 52) & 0x7FF) - 1023 - 54; }
    double m = bits_double((bits & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull);
    if (m > 1.4142135623730951) { m = dmul_rn(m, 0.5); e += 1; }
    double t = ddiv_rn(dadd_rn(m, -1.0), dadd_rn(m, 1.0)), t2 = dmul_rn(t, t);
    double p = 1.0 / 21;
    p = dadd_rn(dmul_rn(p, t2), 1.0 / 19); p = dadd_rn(dmul_rn(p, t2), 1.0 / 17); p = dadd_rn(dmul_rn(p, t2), 1.0 / 15);
    p = dadd_rn(dmul_rn(p, t2), 1.0 / 13); p = dadd_rn(dmul_rn(p, t2), 1.0 / 11); p = dadd_rn(dmul_rn(p, t2), 1.0 / 9);
    p = dadd_rn(dmul_rn(p, t2), 1.0 / 7); p = dadd_rn(dmul_rn(p, t2), 1.0 / 5); p = dadd_rn(dmul_rn(p, t2), 1.0 / 3);
    p = dadd_rn(dmul_rn(p, t2), 1.0);
    return d2f_rn(dadd_rn(dmul_rn((double)e, 0.6931471805599453), dmul_rn(dmul_rn(2.0, t), p)));
}

// f(u) = (1+u) ln(1+u) - u: the alternating series to degree 9 below |u| = 0.1 (float32 Horner, as
// RowImportanceCpu.KlTerm), the closed form in float64 above.
DEVICE float kl_term(float u)
{
    if (__builtin_fabsf(u) >= 0.1f)
    {
        double w = 1.0 + (double)u;
        return (float)(w * log_f64(w) - (double)u);
    }
    float r = -1.0f / 72;
    r = r * u + 1.0f / 56;
    r = r * u + -1.0f / 42;
    r = r * u + 1.0f / 30;
    r = r * u + -1.0f / 20;
    r = r * u + 1.0f / 12;
    r = r * u + -1.0f / 6;
    r = r * u + 0.5f;
    return r * u * u;
}

// Maps a float's bits to a uint whose unsigned order is the float's IEEE order (RadixSelect.ToOrderedKey).
DEVICE unsigned ordered_key(float v)
{
    unsigned u = float_bits(v);
    return u ^ ((unsigned)((int)u >> 31) | 0x80000000u);
}
