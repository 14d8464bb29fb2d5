using System.Collections.Immutable;
using Engine.Core.Numerics;

namespace Engine.Kernels;

/// <summary>The element-wise and reduction primitives the merge methods other than Arcee Fusion run on
/// (linear, slerp, multislerp, karcher, model_stock, passthrough, ram, nearswap, sce, nuslerp, and the task-arithmetic family:
/// task_arithmetic, ties, dare_*, breadcrumbs*, della*). Inputs are stored tensors of any dtype, read as
/// float32; outputs are written in the output's dtype. Element math is float32 in the order each formula is
/// written, with no fused multiply-add; reductions are float64 over fixed blocks of <see cref="ReductionBlock"/>
/// elements, each block's partial sum added to the total in block order, so the CPU result does not depend on
/// the thread count, and other backends agree with it within <see cref="KernelTolerances.ReductionRelative"/>.
/// Masks are bit arrays: bit <c>e &amp; 63</c> of word <c>e &gt;&gt; 6</c> belongs to element e.</summary>
public interface IElementwiseKernels
{
    /// <summary>Elements per reduction block; a multiple of 64, so blocks never share a mask word.</summary>
    public const int ReductionBlock = 1 << 15;

    /// <summary>Without <paramref name="base"/>: <c>out = c_0 x_0 + c_1 x_1 + ...</c>, accumulated left to right
    /// from -0 (the additive identity: a single term comes back as its product, signed zero included). With a
    /// base b: <c>out = ((b + c_0 (x_0 - b)) + c_1 (x_1 - b)) + ...</c>, left to right from b.
    /// Shapes: output, every input and the base (n). Every backend runs it as the one-segment
    /// <see cref="SegmentedLinearCombination"/>.</summary>
    void LinearCombination(RawTensor output, ReadOnlySpan<RawTensor> inputs, ReadOnlySpan<float> coefficients, RawTensor? @base)
    {
        ElementwiseShapes.CheckCombination(output, inputs, coefficients, @base);
        SegmentedLinearCombination(output, inputs, coefficients, @base, Math.Max(1, output.Length), 0);
    }

    /// <summary><see cref="LinearCombination"/> (same order, same identity) with one row of k coefficients per
    /// segment of <paramref name="segmentLength"/> consecutive elements of the tensor: the call's element e is
    /// the tensor's element <c>firstElement + e</c> and takes <c>c_j = coefficients[((firstElement + e) / segmentLength) k + j]</c>
    /// (model_stock's <c>filter_wise</c>: one t per row). Shapes: output, every input and the base (n);
    /// coefficients (segments, k), reaching the segment of the tensor's element <c>firstElement + n - 1</c>.</summary>
    void SegmentedLinearCombination(RawTensor output, ReadOnlySpan<RawTensor> inputs, ReadOnlySpan<float> coefficients, RawTensor? @base,
        long segmentLength, long firstElement);

    /// <summary>Gram matrices of the vectors <c>v_i = x_i</c> (or <c>x_i - b</c> in float32 with a base), one per
    /// segment of <paramref name="segmentLength"/> consecutive elements: <c>gram[s, i, j] = Σ_e v_i[e] v_j[e]</c>,
    /// the products exact in float64, summed in float64 over blocks of <see cref="ReductionBlock"/> elements from
    /// the segment's start, the block partials added in order. Shapes: inputs and base (n); gram
    /// (n / segmentLength, k, k), both triangles filled.</summary>
    void Gram(Span<double> gram, ReadOnlySpan<RawTensor> inputs, RawTensor? @base, long segmentLength);

    /// <summary><c>magnitudes_e = |other_e - base_e|</c> in float32 (the ranking input of the magnitude
    /// sparsifiers). Shapes: all (n).</summary>
    /// <exception cref="NonFiniteValueException">a difference is not finite: the smallest such element, named
    /// "base" when the base's element is not finite, else "other".</exception>
    void AbsDifference(NativeArray<float> magnitudes, RawTensor other, RawTensor @base);

    /// <summary>L1 norms of a delta before and after a keep mask: <c>sums[0] = Σ_e |other_e - base_e|</c>,
    /// <c>sums[1] = Σ_{e kept} |other_e - base_e|</c>, the differences float32, the sums float64 (blocked as
    /// <see cref="Gram"/>). Shapes: other, base (n); keep (ceil(n / 64) words); sums (2).</summary>
    void AbsDifferenceSums(Span<double> sums, RawTensor other, RawTensor @base, ReadOnlySpan<ulong> keep);

    /// <summary>DARE's random drop: bit e of <paramref name="keep"/> is set when
    /// <see cref="CounterHash.Uniform"/>(key, e) &lt; density, for e in [0, length); the other bits are cleared.
    /// Bit-identical on every backend. Shapes: keep (ceil(length / 64) words).</summary>
    void RandomKeepMask(Span<ulong> keep, long length, ulong key, double density);

    /// <summary>The generalised task-arithmetic combine, per element e of the range
    /// [maskStart, maskStart + n) of the tensor (output, models and base hold that range):
    /// <c>d_i = kept_i(e) ? w_i (s_i (M_i - B)) : 0</c>; with sign consensus, <c>majority = Σ_i d_i &gt;= 0 ? + : -</c>
    /// and only the d_i of the majority's sign (zero and NaN have none) are added, the divisor summing their w_i
    /// (0 counts as 1); without, every d_i is added and the divisor is <see cref="TaskArithmeticTerms.LinearDivisor"/>;
    /// <c>mixed /= divisor</c> when normalising, <c>mixed *= lambda</c> when lambda is not 1, <c>out = B + mixed</c>.
    /// Sums run in model order from 0. Shapes: output, models, base (n); each mask (ceil(length / 64) words) over
    /// the whole tensor.</summary>
    void TaskArithmetic(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, TaskArithmeticTerms terms, long maskStart);

    /// <summary>NearSwap's blend, per element, all float32: <c>w = clamp(t / max(|B - M|, 1e-6), 0, 1)</c>
    /// (.NET's MathF.Max and Math.Clamp: a NaN distance or quotient stays NaN), <c>out = w M + (1 - w) B</c>, the two
    /// products rounded before the sum. Shapes: output, model, base (n).</summary>
    void NearSwap(RawTensor output, RawTensor model, RawTensor @base, float t);

    /// <summary>RAM's counted average, per element: <c>d_i = M_i - B</c>; in model order from +0, <c>sum += d_i</c>
    /// and <c>count += 1</c> where <c>|d_i| &gt; epsilon</c>; <c>out = B + sum / max(1, count)</c>, all float32.
    /// Shapes: output, models, base (n).</summary>
    void CountedAverage(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, float epsilon);

    /// <summary>RAM+'s combine (<c>ramplus_tl</c>), per element: <c>d_i = M_i - B</c>, <c>count = #{i : |d_i| &gt; epsilon}</c>;
    /// in model order from +0, over the models with <c>|d_i| &gt; epsilon</c>: <c>sum += count = 1 ? d_i lambda_i : d_i / count</c>
    /// (a change only one model makes is amplified by its lambda, shared changes are averaged); <c>out = B + sum</c>, all
    /// float32, each product and quotient rounded before it is added. Shapes: output, models, base (n); amplification (k).</summary>
    void AmplifiedCountedAverage(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, ReadOnlySpan<float> amplification, float epsilon);

    /// <summary>The population variance of the k deltas <c>d_i = M_i - B</c> per element, float32 in this order:
    /// <c>mean = (Σ_i d_i) / k</c>, <c>variance = (Σ_i (d_i - mean)²) / k</c>, sums in model order from +0, each square
    /// rounded before it is added (SCE's selection input). Returns how many variances are not zero.
    /// Shapes: variance, models, base (n).</summary>
    /// <exception cref="NonFiniteValueException">a delta is not finite: the smallest such element, named "base"
    /// when the base's element is not finite, else "other".</exception>
    long DeltaVariance(NativeArray<float> variance, ReadOnlySpan<RawTensor> models, RawTensor @base);

    /// <summary>Per model, the sum of squared deltas over the kept elements: <c>sums[i] = Σ_{e kept} d_i[e]²</c>,
    /// <c>d_i = M_i - B</c> in float32, squared exactly in float64 and summed in float64 (blocked as <see cref="Gram"/>).
    /// <paramref name="keep"/> null keeps every element. Shapes: models, base (n); keep (ceil(n / 64) words); sums (k).</summary>
    void DeltaSquareSums(Span<double> sums, ReadOnlySpan<RawTensor> models, RawTensor @base, ulong[]? keep);

    /// <summary>SCE's combine, per element e of the range [keepStart, keepStart + n) of the tensor (output, models
    /// and base hold that range): <c>d_i = kept(e) ? M_i - B : +0</c> (one mask for all models; null keeps all);
    /// <c>majority = Σ_i d_i &gt;= 0 ? + : -</c> on the unweighted deltas; over the d_i of the majority's sign (zero and
    /// NaN have none), <c>mixed = Σ d_i w_i</c> and <c>divisor = Σ w_i</c>, in model order from +0;
    /// <c>out = B + mixed / max(divisor, 1e-6)</c>, all float32. Shapes: output, models, base (n); weights (k);
    /// keep (ceil(length / 64) words) over the whole tensor.</summary>
    void SignElectedMean(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, ReadOnlySpan<float> weights, ulong[]? keep, long keepStart);

    /// <summary>NuSLERP's per-vector sums of two vectors <c>v_i = x_i</c> (or <c>x_i - B</c> in float32):
    /// <c>sums[v] = (Σ v_0², Σ v_1², Σ v_0 v_1, Σ (v_0 - v_1)²)</c>, products and the difference in float64. The tensor
    /// holds <paramref name="vectors"/> vectors of <c>n / vectors</c> elements: one vector (the whole tensor) is summed
    /// in blocks of <see cref="ReductionBlock"/> elements as <see cref="Gram"/>; more are rows of consecutive elements,
    /// or with <paramref name="alongFirst"/> columns (element <c>i vectors + j</c> belongs to vector j), each summed
    /// sequentially in element order. Shapes: x0, x1, base (n); sums (vectors, 4).</summary>
    void PairSums(Span<double> sums, RawTensor x0, RawTensor x1, RawTensor? @base, long vectors, bool alongFirst);

    /// <summary>NuSLERP's blend, per element e of the range [firstElement, firstElement + n) of the tensor (output,
    /// inputs and base hold that range), e in vector v as <see cref="PairSums"/> splits the tensor of
    /// <paramref name="length"/> elements: <c>r = lerp(v) ? v_0 + t (v_1 - v_0) : c_0 v_0 + c_1 v_1</c>, <c>(c_0, c_1) =
    /// coefficients[v]</c>, lerp(v) bit v of <paramref name="lerp"/>; <c>out = r</c>, or <c>B + r</c> with a base; float32,
    /// each product rounded. Shapes: output, x0, x1, base (n); coefficients (vectors, 2); lerp (ceil(vectors / 64) words).</summary>
    void SlerpBlend(RawTensor output, RawTensor x0, RawTensor x1, RawTensor? @base, ReadOnlySpan<float> coefficients, ReadOnlySpan<ulong> lerp, float t,
        long length, long vectors, bool alongFirst, long firstElement);
}

/// <summary>The per-model terms of <see cref="IElementwiseKernels.TaskArithmetic"/>: weight w_i, L1 rescale
/// factor s_i and keep mask (null: keep all) of each model, and the combine's switches.</summary>
public sealed record TaskArithmeticTerms(ImmutableArray<float> Weights, ImmutableArray<float> Scales, ImmutableArray<ulong[]?> Masks,
    bool SignConsensus, bool Normalize, float Lambda)
{
    /// <summary>The divisor without consensus: <c>Σ_i w_i</c> (float32, model order), or 1 when under 1e-8 in magnitude.</summary>
    public float LinearDivisor
    {
        get
        {
            float sum = 0;
            foreach (float w in Weights) sum += w;
            return Math.Abs(sum) < 1e-8f ? 1 : sum;
        }
    }
}
