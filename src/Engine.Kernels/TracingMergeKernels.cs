using Engine.Core.Diagnostics;
using Engine.Core.Numerics;

namespace Engine.Kernels;

/// <summary>Wraps a backend so each kernel call is a "kernel" span of a <see cref="PipelineTrace"/>; backends
/// that transfer data also record their upload/download spans inside it.</summary>
public sealed class TracingMergeKernels : IMergeKernels
{
    private readonly IMergeKernels _inner;
    private readonly PipelineTrace _trace;

    public TracingMergeKernels(IMergeKernels inner, PipelineTrace trace)
    {
        _inner = inner;
        _trace = trace;
        if (inner is ITraceableKernels traceable) traceable.Trace = trace;
    }

    public string Device => _inner.Device;

    public void RowImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision)
    {
        using var _ = _trace.Span("row_importance", "kernel", $"{other.Length} elements");
        _inner.RowImportance(importance, rowKl, other, @base, rowLength, precision);
    }

    public void SelectRanks(Span<float> results, NativeArray<float> values, ReadOnlySpan<long> ranks)
    {
        using var _ = _trace.Span("select_ranks", "kernel", $"{values.Length} elements");
        _inner.SelectRanks(results, values, ranks);
    }

    public long MaskedSelect(RawTensor output, RawTensor other, RawTensor @base, NativeArray<float> importance, long start, float threshold)
    {
        using var _ = _trace.Span("masked_select", "kernel", $"{output.Length} elements");
        return _inner.MaskedSelect(output, other, @base, importance, start, threshold);
    }

    /// <summary>The wrapped backend stays owned by its creator.</summary>
    public void Dispose()
    {
        if (_inner is ITraceableKernels traceable) traceable.Trace = null;
    }
}
