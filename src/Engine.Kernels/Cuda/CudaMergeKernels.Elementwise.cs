using Engine.Core.Numerics;

namespace Engine.Kernels.Cuda;

public sealed unsafe partial class CudaMergeKernels
{
    public void LinearCombination(RawTensor output, ReadOnlySpan<RawTensor> inputs, ReadOnlySpan<float> coefficients, RawTensor? @base) =>
        _cpu.LinearCombination(output, inputs, coefficients, @base);

    public void Gram(Span<double> gram, ReadOnlySpan<RawTensor> inputs, RawTensor? @base, long segmentLength) =>
        _cpu.Gram(gram, inputs, @base, segmentLength);

    public void AbsDifference(NativeArray<float> magnitudes, RawTensor other, RawTensor @base) =>
        _cpu.AbsDifference(magnitudes, other, @base);

    public void AbsDifferenceSums(Span<double> sums, RawTensor other, RawTensor @base, ReadOnlySpan<ulong> keep) =>
        _cpu.AbsDifferenceSums(sums, other, @base, keep);

    public void RandomKeepMask(Span<ulong> keep, long length, ulong key, double density) =>
        _cpu.RandomKeepMask(keep, length, key, density);

    public void TaskArithmetic(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, TaskArithmeticTerms terms, long maskStart) =>
        _cpu.TaskArithmetic(output, models, @base, terms, maskStart);
}
