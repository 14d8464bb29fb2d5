using Engine.Core;
using Engine.Core.Numerics;

namespace Engine.Kernels;

/// <summary>How the merge arithmetic is carried out.</summary>
public enum ComputePrecision
{
    /// <summary>float32 element math, float64 reductions: the engine's default.</summary>
    Float32,

    /// <summary>Every intermediate rounded to bfloat16 as torch does on bf16 tensors: mergekit's behaviour
    /// when its config dtype is bfloat16. Float32 sums in element order and the engine's own exp and ln, so every
    /// backend gives the same bits.</summary>
    BFloat16,
}

/// <summary>The kernel contract for the merge's hot work. Every backend (vectorised CPU, ILGPU, CUDA) gives
/// the same results as the CPU reference: bit-identical for selection, quantiles, masks and conversion, within
/// float32 rounding for the importance and the element-wise combines, and within
/// <see cref="KernelTolerances.ReductionRelative"/> for float64 reductions. Arcee Fusion's kernels are here; the
/// other methods' primitives are <see cref="IElementwiseKernels"/>.</summary>
public interface IMergeKernels : IElementwiseKernels, IDisposable
{
    /// <summary>What runs the kernels, as reports print it ("cpu (2 threads, AVX2)").</summary>
    string Device { get; }

    /// <summary>Arcee Fusion importance, row-wise along the last dimension:
    /// <c>p = softmax(other_row) + 1e-8</c>, <c>q = softmax(base_row) + 1e-8</c>,
    /// <c>KL_row = sum_j p_j log(p_j / q_j)</c>, <c>importance_i = |other_i - base_i| * KL_row</c>.
    /// Shapes: other, base, importance (rows * rowLength); rowKl (rows).</summary>
    /// <exception cref="NonFiniteValueException">an input holds NaN or an infinity.</exception>
    void RowImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision);

    /// <summary><see cref="RowImportance"/> kept where the backend computes, for the quartiles and the selection
    /// that follow (<see cref="IImportance"/>). <paramref name="importance"/> is the host array it is kept in,
    /// or filled on request (<see cref="IImportance.ToHost"/>) where the importance lives on a device or, on the CPU
    /// backend in float32, is recomputed from the inputs instead of stored (the array is left untouched otherwise);
    /// <paramref name="rowKl"/> is filled before this returns.</summary>
    /// <exception cref="NonFiniteValueException">an input holds NaN or an infinity.</exception>
    IImportance ComputeImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision)
        => HostImportance.Compute(this, importance, rowKl, other, @base, rowLength, precision);

    /// <summary>Exact order statistics: <c>results[i]</c> = the value of 0-based rank <c>ranks[i]</c> among all
    /// of <paramref name="values"/> in ascending IEEE order (-0 sorts before +0). No NaN may be present.</summary>
    void SelectRanks(Span<float> results, NativeArray<float> values, ReadOnlySpan<long> ranks);

    /// <summary><c>output_i = importance_i &gt;= threshold ? other_i : base_i</c> for the elements of the given
    /// range, converted to the output's dtype (a value stored in the output dtype is copied exactly).
    /// Returns how many elements came from <paramref name="other"/>.</summary>
    long MaskedSelect(RawTensor output, RawTensor other, RawTensor @base, NativeArray<float> importance, long start, float threshold);
}

/// <summary>An input tensor holds NaN or an infinity; the caller adds the tensor's name.</summary>
public sealed class NonFiniteValueException : EngineException
{
    /// <summary>Input <paramref name="which"/> holds a non-finite value at <paramref name="element"/>.</summary>
    public NonFiniteValueException(string which, long element)
        : base($"{which} holds NaN or infinity at element {element}")
    {
        Which = which;
        Element = element;
    }

    /// <summary>"other" or "base".</summary>
    public string Which { get; }
    /// <summary>The 0-based index of the first non-finite element found.</summary>
    public long Element { get; }
}
