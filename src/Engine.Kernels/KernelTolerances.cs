namespace Engine.Kernels;

/// <summary>How closely a backend must agree with the CPU reference (<see cref="Cpu.CpuMergeKernels"/>).
/// Selection, quantiles and dtype conversion: bit-identical. Importance and row KL: the GPU kernels evaluate
/// the same cancellation-free formula with their own float32 exp/expm1 (ILGPU: a polynomial, about 1 ulp; CUDA:
/// the hardware ex2 with an FMA-corrected argument and an approximate division, about 2 ulp each; against .NET's
/// vectorised Exp) and sum the float64 terms in another order. Every KL term is non-negative, so the relative error of
/// a row's KL is bounded by the terms' relative error (a few float32 ulps) plus the effect of the float32
/// rounding of the log-sum-exp shift; <see cref="ImportanceRelative"/> bounds both with margin. Under
/// <see cref="ComputePrecision.BFloat16"/> (mergekit's rounding) the importance and row KL are bit-identical: every
/// backend repeats the CPU's operations in its order.</summary>
public static class KernelTolerances
{
    /// <summary>|gpu - cpu| &lt;= ImportanceRelative * |cpu| + ImportanceAbsolute, per element and per row KL.</summary>
    public const double ImportanceRelative = 2e-5;

    /// <summary>The absolute floor (the KL of identical rows is exactly 0 on every backend; this only guards denormal noise).</summary>
    public const double ImportanceAbsolute = 1e-30;

    /// <summary>Whether <paramref name="actual"/> is within the importance tolerance of <paramref name="expected"/>.</summary>
    public static bool ImportanceAgrees(double expected, double actual) =>
        Math.Abs(actual - expected) <= ImportanceRelative * Math.Abs(expected) + ImportanceAbsolute;

    /// <summary>Float64 reductions (<see cref="IElementwiseKernels.Gram"/>, <see cref="IElementwiseKernels.AbsDifferenceSums"/>):
    /// GPU backends add each block's terms in a tree instead of in element order (the products are exact on every
    /// backend), so sums differ by float64 rounding only: <c>|gpu - cpu| &lt;= ReductionRelative * scale</c>, scale
    /// being the sum of the terms' magnitudes (for a Gram entry <c>sqrt(G_ii G_jj)</c> bounds it).</summary>
    public const double ReductionRelative = 1e-12;
}
