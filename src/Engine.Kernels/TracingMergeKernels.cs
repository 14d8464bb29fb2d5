using Engine.Core.Diagnostics;
using Engine.Core.Numerics;

namespace Engine.Kernels;

/// <summary>Wraps a backend so each kernel call is a "kernel" span of a <see cref="PipelineTrace"/>; backends
/// that transfer data also record their upload/download spans inside it.</summary>
public sealed class TracingMergeKernels : IMergeKernels
{
    private readonly IMergeKernels _inner;
    private readonly PipelineTrace _trace;
    private readonly string _category;

    public TracingMergeKernels(IMergeKernels inner, PipelineTrace trace)
    {
        _inner = inner;
        _trace = trace;
        // A backend that records its own upload/kernel/download spans gets "call" spans around them, so the
        // kernel category is never counted twice.
        _category = inner is ITraceableKernels ? "call" : "kernel";
        if (inner is ITraceableKernels traceable) traceable.Trace = trace;
    }

    public string Device => _inner.Device;

    public void RowImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision)
    {
        using var _ = _trace.Span("row_importance", _category, $"{other.Length} elements");
        _inner.RowImportance(importance, rowKl, other, @base, rowLength, precision);
    }

    public void SelectRanks(Span<float> results, NativeArray<float> values, ReadOnlySpan<long> ranks)
    {
        using var _ = _trace.Span("select_ranks", _category, $"{values.Length} elements");
        _inner.SelectRanks(results, values, ranks);
    }

    public long MaskedSelect(RawTensor output, RawTensor other, RawTensor @base, NativeArray<float> importance, long start, float threshold)
    {
        using var _ = _trace.Span("masked_select", _category, $"{output.Length} elements");
        return _inner.MaskedSelect(output, other, @base, importance, start, threshold);
    }

    /// <summary>The wrapped backend stays owned by its creator.</summary>
    public void Dispose()
    {
        if (_inner is ITraceableKernels traceable) traceable.Trace = null;
    }
}
