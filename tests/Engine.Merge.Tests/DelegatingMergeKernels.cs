using Engine.Core;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Kernels.Cpu;

namespace Engine.Merge.Tests;

/// <summary>A test backend that hands every kernel call to CPU kernels (owned) through <see cref="Target"/>, so a test
/// double overrides only what it changes: a hook before each call, or one kernel.</summary>
internal abstract class DelegatingMergeKernels(int threads) : IMergeKernels
{
    protected CpuMergeKernels Cpu { get; } = new(threads);

    /// <summary>The kernels each call goes to (an override may check a condition first).</summary>
    protected virtual IMergeKernels Target => Cpu;

    public virtual string Device => Cpu.Device;

    public virtual void RowImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision) =>
        Target.RowImportance(importance, rowKl, other, @base, rowLength, precision);

    public virtual IImportance ComputeImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision) =>
        HostImportance.Compute(this, importance, rowKl, other, @base, rowLength, precision);

    public void SelectRanks(Span<float> results, NativeArray<float> values, ReadOnlySpan<long> ranks) => Target.SelectRanks(results, values, ranks);

    public long MaskedSelect(RawTensor output, RawTensor other, RawTensor @base, NativeArray<float> importance, long start, float threshold) =>
        Target.MaskedSelect(output, other, @base, importance, start, threshold);

    public void SegmentedLinearCombination(RawTensor output, ReadOnlySpan<RawTensor> inputs, ReadOnlySpan<float> coefficients, RawTensor? @base,
        long segmentLength, long firstElement) => Target.SegmentedLinearCombination(output, inputs, coefficients, @base, segmentLength, firstElement);

    public void Gram(Span<double> gram, ReadOnlySpan<RawTensor> inputs, RawTensor? @base, long segmentLength) => Target.Gram(gram, inputs, @base, segmentLength);

    public void AbsDifference(NativeArray<float> magnitudes, RawTensor other, RawTensor @base) => Target.AbsDifference(magnitudes, other, @base);

    public void AbsDifferenceSums(Span<double> sums, RawTensor other, RawTensor @base, ReadOnlySpan<ulong> keep) => Target.AbsDifferenceSums(sums, other, @base, keep);

    public void RandomKeepMask(Span<ulong> keep, long length, ulong key, double density) => Target.RandomKeepMask(keep, length, key, density);

    public void TaskArithmetic(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, TaskArithmeticTerms terms, long maskStart) =>
        Target.TaskArithmetic(output, models, @base, terms, maskStart);

    public void NearSwap(RawTensor output, RawTensor model, RawTensor @base, float t) => Target.NearSwap(output, model, @base, t);

    public void CountedAverage(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, float epsilon) => Target.CountedAverage(output, models, @base, epsilon);

    public void AmplifiedCountedAverage(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, ReadOnlySpan<float> amplification, float epsilon) =>
        Target.AmplifiedCountedAverage(output, models, @base, amplification, epsilon);

    public long DeltaVariance(NativeArray<float> variance, ReadOnlySpan<RawTensor> models, RawTensor @base) => Target.DeltaVariance(variance, models, @base);

    public void DeltaSquareSums(Span<double> sums, ReadOnlySpan<RawTensor> models, RawTensor @base, ulong[]? keep) => Target.DeltaSquareSums(sums, models, @base, keep);

    public void SignElectedMean(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, ReadOnlySpan<float> weights, ulong[]? keep, long keepStart) =>
        Target.SignElectedMean(output, models, @base, weights, keep, keepStart);

    public void PairSums(Span<double> sums, RawTensor x0, RawTensor x1, RawTensor? @base, long vectors, bool alongFirst) =>
        Target.PairSums(sums, x0, x1, @base, vectors, alongFirst);

    public void SlerpBlend(RawTensor output, RawTensor x0, RawTensor x1, RawTensor? @base, ReadOnlySpan<float> coefficients, ReadOnlySpan<ulong> lerp, float t,
        long length, long vectors, bool alongFirst, long firstElement) =>
        Target.SlerpBlend(output, x0, x1, @base, coefficients, lerp, t, length, vectors, alongFirst, firstElement);

    public void Dispose() => Cpu.Dispose();
}
