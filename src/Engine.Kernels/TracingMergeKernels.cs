using Engine.Core.Diagnostics;
using Engine.Core.Numerics;

namespace Engine.Kernels;

/// <summary>Wraps a backend so each kernel call is a span of a <see cref="ProfileTrace"/>: a "kernel" span, or,
/// for a backend that records its own upload / kernel / download spans (<see cref="ITraceableKernels"/>: CUDA,
/// ILGPU), a "call" span around them.</summary>
public sealed class TracingMergeKernels : IMergeKernels
{
    private readonly IMergeKernels _inner;
    private readonly ProfileTrace _trace;
    private readonly string _category;

    /// <summary>Records every call to <paramref name="inner"/> (not owned) on <paramref name="trace"/>.</summary>
    public TracingMergeKernels(IMergeKernels inner, ProfileTrace trace)
    {
        _inner = inner;
        _trace = trace;
        // A backend that records its own upload/kernel/download spans gets "call" spans around them, so the
        // kernel category is never counted twice.
        _category = inner is ITraceableKernels ? "call" : "kernel";
        if (inner is ITraceableKernels traceable) traceable.Trace = trace;
    }

    /// <inheritdoc/>
    public string Device => _inner.Device;

    /// <inheritdoc/>
    public void RowImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision)
    {
        using var _ = _trace.Span("row_importance", _category, $"{other.Length} elements");
        _inner.RowImportance(importance, rowKl, other, @base, rowLength, precision);
    }

    /// <inheritdoc/>
    public IImportance ComputeImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision)
    {
        IImportance inner;
        using (_trace.Span("row_importance", _category, $"{other.Length} elements"))
            inner = _inner.ComputeImportance(importance, rowKl, other, @base, rowLength, precision);
        return new TracedImportance(inner, _trace, _category);
    }

    /// <summary>The inner backend's importance, each call a span like the wrapper's own.</summary>
    private sealed class TracedImportance(IImportance inner, ProfileTrace trace, string category) : IImportance
    {
        public long Length => inner.Length;

        public void SelectRanks(Span<float> results, ReadOnlySpan<long> ranks)
        {
            using var _ = trace.Span("select_ranks", category, $"{inner.Length} elements");
            inner.SelectRanks(results, ranks);
        }

        public long MaskedSelect(RawTensor output, long start, float threshold)
        {
            using var _ = trace.Span("masked_select", category, $"{output.Length} elements");
            return inner.MaskedSelect(output, start, threshold);
        }

        public NativeArray<float> ToHost() => inner.ToHost();

        public void Dispose() => inner.Dispose();
    }

    /// <inheritdoc/>
    public void SelectRanks(Span<float> results, NativeArray<float> values, ReadOnlySpan<long> ranks)
    {
        using var _ = _trace.Span("select_ranks", _category, $"{values.Length} elements");
        _inner.SelectRanks(results, values, ranks);
    }

    /// <inheritdoc/>
    public long MaskedSelect(RawTensor output, RawTensor other, RawTensor @base, NativeArray<float> importance, long start, float threshold)
    {
        using var _ = _trace.Span("masked_select", _category, $"{output.Length} elements");
        return _inner.MaskedSelect(output, other, @base, importance, start, threshold);
    }

    /// <inheritdoc/>
    public void LinearCombination(RawTensor output, ReadOnlySpan<RawTensor> inputs, ReadOnlySpan<float> coefficients, RawTensor? @base)
    {
        using var _ = _trace.Span("linear_combination", _category, $"{output.Length} elements x {inputs.Length}");
        _inner.LinearCombination(output, inputs, coefficients, @base);
    }

    /// <inheritdoc/>
    public void SegmentedLinearCombination(RawTensor output, ReadOnlySpan<RawTensor> inputs, ReadOnlySpan<float> coefficients, RawTensor? @base,
        long segmentLength, long firstElement)
    {
        using var _ = _trace.Span("segmented_linear_combination", _category, $"{output.Length} elements x {inputs.Length}, segments of {segmentLength}");
        _inner.SegmentedLinearCombination(output, inputs, coefficients, @base, segmentLength, firstElement);
    }

    /// <inheritdoc/>
    public void Gram(Span<double> gram, ReadOnlySpan<RawTensor> inputs, RawTensor? @base, long segmentLength)
    {
        using var _ = _trace.Span("gram", _category, $"{(inputs.IsEmpty ? 0 : inputs[0].Length)} elements x {inputs.Length}");
        _inner.Gram(gram, inputs, @base, segmentLength);
    }

    /// <inheritdoc/>
    public void AbsDifference(NativeArray<float> magnitudes, RawTensor other, RawTensor @base)
    {
        using var _ = _trace.Span("abs_difference", _category, $"{magnitudes.Length} elements");
        _inner.AbsDifference(magnitudes, other, @base);
    }

    /// <inheritdoc/>
    public void AbsDifferenceSums(Span<double> sums, RawTensor other, RawTensor @base, ReadOnlySpan<ulong> keep)
    {
        using var _ = _trace.Span("abs_difference_sums", _category, $"{other.Length} elements");
        _inner.AbsDifferenceSums(sums, other, @base, keep);
    }

    /// <inheritdoc/>
    public void RandomKeepMask(Span<ulong> keep, long length, ulong key, double density)
    {
        using var _ = _trace.Span("random_keep_mask", _category, $"{length} elements");
        _inner.RandomKeepMask(keep, length, key, density);
    }

    /// <inheritdoc/>
    public void TaskArithmetic(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, TaskArithmeticTerms terms, long maskStart)
    {
        using var _ = _trace.Span("task_arithmetic", _category, $"{output.Length} elements x {models.Length}");
        _inner.TaskArithmetic(output, models, @base, terms, maskStart);
    }

    /// <inheritdoc/>
    public void NearSwap(RawTensor output, RawTensor model, RawTensor @base, float t)
    {
        using var _ = _trace.Span("near_swap", _category, $"{output.Length} elements");
        _inner.NearSwap(output, model, @base, t);
    }

    /// <inheritdoc/>
    public void CountedAverage(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, float epsilon)
    {
        using var _ = _trace.Span("counted_average", _category, $"{output.Length} elements x {models.Length}");
        _inner.CountedAverage(output, models, @base, epsilon);
    }

    /// <inheritdoc/>
    public void AmplifiedCountedAverage(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, ReadOnlySpan<float> amplification, float epsilon)
    {
        using var _ = _trace.Span("amplified_counted_average", _category, $"{output.Length} elements x {models.Length}");
        _inner.AmplifiedCountedAverage(output, models, @base, amplification, epsilon);
    }

    /// <inheritdoc/>
    public long DeltaVariance(NativeArray<float> variance, ReadOnlySpan<RawTensor> models, RawTensor @base)
    {
        using var _ = _trace.Span("delta_variance", _category, $"{variance.Length} elements x {models.Length}");
        return _inner.DeltaVariance(variance, models, @base);
    }

    /// <inheritdoc/>
    public void DeltaSquareSums(Span<double> sums, ReadOnlySpan<RawTensor> models, RawTensor @base, ulong[]? keep)
    {
        using var _ = _trace.Span("delta_square_sums", _category, $"{@base.Length} elements x {models.Length}");
        _inner.DeltaSquareSums(sums, models, @base, keep);
    }

    /// <inheritdoc/>
    public void SignElectedMean(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, ReadOnlySpan<float> weights, ulong[]? keep, long keepStart)
    {
        using var _ = _trace.Span("sign_elected_mean", _category, $"{output.Length} elements x {models.Length}");
        _inner.SignElectedMean(output, models, @base, weights, keep, keepStart);
    }

    /// <inheritdoc/>
    public void PairSums(Span<double> sums, RawTensor x0, RawTensor x1, RawTensor? @base, long vectors, bool alongFirst)
    {
        using var _ = _trace.Span("pair_sums", _category, $"{x0.Length} elements, {vectors} vectors");
        _inner.PairSums(sums, x0, x1, @base, vectors, alongFirst);
    }

    /// <inheritdoc/>
    public void SlerpBlend(RawTensor output, RawTensor x0, RawTensor x1, RawTensor? @base, ReadOnlySpan<float> coefficients, ReadOnlySpan<ulong> lerp, float t,
        long length, long vectors, bool alongFirst, long firstElement)
    {
        using var _ = _trace.Span("slerp_blend", _category, $"{output.Length} elements, {vectors} vectors");
        _inner.SlerpBlend(output, x0, x1, @base, coefficients, lerp, t, length, vectors, alongFirst, firstElement);
    }

    /// <summary>The wrapped backend stays owned by its creator.</summary>
    public void Dispose()
    {
        if (_inner is ITraceableKernels traceable) traceable.Trace = null;
    }
}
