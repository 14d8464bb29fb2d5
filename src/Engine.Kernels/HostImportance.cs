using Engine.Core.Numerics;

namespace Engine.Kernels;

/// <summary>The importance in a host array, each step one kernel call: what every backend does unless it keeps
/// the importance on a device (the CPU backend's only way; GPU backends' fallback for dtypes without device kernels
/// and empty tensors).</summary>
public sealed class HostImportance : IImportance
{
    private readonly IMergeKernels _kernels;
    private readonly NativeArray<float> _importance;
    private readonly RawTensor _other;
    private readonly RawTensor _base;

    private HostImportance(IMergeKernels kernels, NativeArray<float> importance, RawTensor other, RawTensor @base)
    {
        _kernels = kernels;
        _importance = importance;
        _other = other;
        _base = @base;
    }

    /// <summary><see cref="IMergeKernels.RowImportance"/> into <paramref name="importance"/>, kept there.</summary>
    public static IImportance Compute(IMergeKernels kernels, NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base,
        int rowLength, ComputePrecision precision)
    {
        kernels.RowImportance(importance, rowKl, other, @base, rowLength, precision);
        return new HostImportance(kernels, importance, other, @base);
    }

    /// <inheritdoc/>
    public long Length => _importance.Length;

    /// <inheritdoc/>
    public void SelectRanks(Span<float> results, ReadOnlySpan<long> ranks) => _kernels.SelectRanks(results, _importance, ranks);

    /// <inheritdoc/>
    public long MaskedSelect(RawTensor output, long start, float threshold)
    {
        ImportanceShapes.CheckChunk(start, output.Length, Length);
        return _kernels.MaskedSelect(output, _other.Slice(start, output.Length), _base.Slice(start, output.Length), _importance, start, threshold);
    }

    /// <inheritdoc/>
    public NativeArray<float> ToHost() => _importance;

    /// <inheritdoc/>
    public void Dispose()
    {
    }
}
