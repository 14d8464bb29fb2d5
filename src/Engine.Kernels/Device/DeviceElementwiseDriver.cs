using Engine.Core.Numerics;
using Engine.Kernels.Cpu;
using static Engine.Kernels.Device.KernelArgument;

namespace Engine.Kernels.Device;

/// <summary>The host driver of the <see cref="IElementwiseKernels"/> primitives on a GPU, written once for every
/// device backend: the argument checks, the CPU fallback rule (empty calls, calls without inputs and dtypes
/// without device kernels run on <see cref="Cpu"/>, the reference), the backend's lock, the kernel's arguments
/// and grid (<see cref="KernelCall"/>), the block partials added in block order and the non-finite checks. The
/// backend (<see cref="Launch"/>) only stages bytes, launches the named kernel and copies its results back.
/// Calls from several threads are serialised on <see cref="Gate"/> (device buffers and streams are shared).</summary>
public abstract unsafe class DeviceElementwiseDriver : IElementwiseKernels
{
    private protected DeviceElementwiseDriver(int threads)
    {
        Cpu = new CpuMergeKernels(threads);
    }

    /// <summary>The CPU reference, used where the device has no kernel.</summary>
    private protected CpuMergeKernels Cpu { get; }

    /// <summary>Held for every device call; a kept importance holds it until disposed.</summary>
    private protected Lock Gate { get; } = new();

    /// <summary>Stages <paramref name="call"/>'s packed inputs, tensors and tables, launches its kernel and copies
    /// its results back into host memory before returning. Called with <see cref="Gate"/> held.</summary>
    private protected abstract void Launch(KernelCall call);

    private void Run(string kernel, KernelGrid grid, RawTensor[] packed, KernelArgument[] arguments) => Run(kernel, kernel, grid, packed, arguments);

    private void Run(string kernel, string span, KernelGrid grid, RawTensor[] packed, KernelArgument[] arguments)
    {
        lock (Gate) Launch(new KernelCall(kernel, span, grid, packed, arguments));
    }

    /// <summary>The inputs, then the base where there is one.</summary>
    private static RawTensor[] WithBase(ReadOnlySpan<RawTensor> inputs, RawTensor? @base) => @base is { } b ? [.. inputs, b] : inputs.ToArray();

    private static bool OnDevice(RawTensor output, ReadOnlySpan<RawTensor> inputs, RawTensor? @base) =>
        DeviceDTypes.HasKernel(output.DType) && DeviceDTypes.HaveKernels(inputs, @base);

    /// <inheritdoc/>
    public void SegmentedLinearCombination(RawTensor output, ReadOnlySpan<RawTensor> inputs, ReadOnlySpan<float> coefficients, RawTensor? @base,
        long segmentLength, long firstElement)
    {
        ElementwiseShapes.CheckSegmentedCombination(output, inputs, coefficients, @base, segmentLength, firstElement);
        long n = output.Length;
        if (n == 0 || inputs.IsEmpty || !OnDevice(output, inputs, @base))
        {
            Cpu.SegmentedLinearCombination(output, inputs, coefficients, @base, segmentLength, firstElement);
            return;
        }
        int k = inputs.Length;
        var rows = coefficients[ElementwiseShapes.SegmentRows(k, segmentLength, firstElement, n)].ToArray();
        Run("linear_combination", KernelGrid.Elementwise(n), WithBase(inputs, @base),
            [Output(output), .. PackedInputs, Table(rows), DTypeOf(output), Scalar(k), Scalar(@base is null ? 0 : 1), Scalar(segmentLength), Scalar(firstElement), Scalar(n)]);
    }

    /// <inheritdoc/>
    public void NearSwap(RawTensor output, RawTensor model, RawTensor @base, float t)
    {
        ElementwiseShapes.Check(output.Length, [model], @base);
        long n = output.Length;
        if (n == 0 || !OnDevice(output, [model], @base))
        {
            Cpu.NearSwap(output, model, @base, t);
            return;
        }
        Run("near_swap", KernelGrid.Elementwise(n), [model, @base], [Output(output), .. PackedInputs, DTypeOf(output), Scalar(t), Scalar(n)]);
    }

    /// <inheritdoc/>
    public void CountedAverage(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, float epsilon)
    {
        ElementwiseShapes.Check(output.Length, models, @base);
        long n = output.Length;
        if (n == 0 || models.IsEmpty || !OnDevice(output, models, @base))
        {
            Cpu.CountedAverage(output, models, @base, epsilon);
            return;
        }
        Run("counted_average", KernelGrid.Elementwise(n), WithBase(models, @base),
            [Output(output), .. PackedInputs, DTypeOf(output), Scalar(models.Length), Scalar(epsilon), Scalar(n)]);
    }

    /// <inheritdoc/>
    public void AmplifiedCountedAverage(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, ReadOnlySpan<float> amplification, float epsilon)
    {
        ElementwiseShapes.CheckAmplified(output.Length, models, @base, amplification);
        long n = output.Length;
        if (n == 0 || models.IsEmpty || !OnDevice(output, models, @base))
        {
            Cpu.AmplifiedCountedAverage(output, models, @base, amplification, epsilon);
            return;
        }
        Run("amplified_counted_average", KernelGrid.Elementwise(n), WithBase(models, @base),
            [Output(output), .. PackedInputs, Table(amplification.ToArray()), DTypeOf(output), Scalar(models.Length), Scalar(epsilon), Scalar(n)]);
    }

    /// <inheritdoc/>
    public long DeltaVariance(NativeArray<float> variance, ReadOnlySpan<RawTensor> models, RawTensor @base)
    {
        long n = variance.Length;
        ElementwiseShapes.Check(n, models, @base);
        if (n == 0 || models.IsEmpty || !DeviceDTypes.HaveKernels(models, @base)) return Cpu.DeltaVariance(variance, models, @base);
        ulong firstBad;
        long nonzero;
        Run("delta_variance", KernelGrid.Elementwise(n), WithBase(models, @base),
            [Written(variance.Pointer, n), Written(&firstBad, 1, fill: 0xFF), Written(&nonzero, 1, fill: 0), .. PackedInputs, Scalar(models.Length), Scalar(n)]);
        NonFiniteInputs.ThrowIfAny(firstBad, @base);
        return nonzero;
    }

    /// <inheritdoc/>
    public void DeltaSquareSums(Span<double> sums, ReadOnlySpan<RawTensor> models, RawTensor @base, ulong[]? keep)
    {
        int k = models.Length;
        long n = @base.Length, blocks = ElementwiseShapes.CheckSquareSums(sums, models, @base, keep);
        if (n == 0 || models.IsEmpty || !DeviceDTypes.HaveKernels(models, @base))
        {
            Cpu.DeltaSquareSums(sums, models, @base, keep);
            return;
        }
        var partials = new double[checked(blocks * k)];
        fixed (double* p = partials)
        {
            Run("delta_square_sums", KernelGrid.Reduction(blocks), WithBase(models, @base),
                [Written(p, partials.Length), .. PackedInputs, Table(ElementwiseShapes.KeepWindow(keep, 0, n)), Scalar(keep is null ? 0 : 1), Scalar(k), Scalar(n)]);
        }
        PartialSums.Add(sums, partials, 1, blocks, k, gram: false);
    }

    /// <inheritdoc/>
    public void SignElectedMean(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, ReadOnlySpan<float> weights, ulong[]? keep, long keepStart)
    {
        ElementwiseShapes.CheckSignElection(output, models, @base, weights, keep, keepStart);
        long n = output.Length;
        if (n == 0 || models.IsEmpty || !OnDevice(output, models, @base))
        {
            Cpu.SignElectedMean(output, models, @base, weights, keep, keepStart);
            return;
        }
        Run("sign_elected_mean", KernelGrid.Elementwise(n), WithBase(models, @base),
        [
            Output(output), .. PackedInputs, Table(weights.ToArray()), Table(ElementwiseShapes.KeepWindow(keep, keepStart, n)), DTypeOf(output),
            Scalar(models.Length), Scalar(keep is null ? 0 : 1), Scalar((int)(keepStart & 63)), Scalar(n),
        ]);
    }

    /// <inheritdoc/>
    public void PairSums(Span<double> sums, RawTensor x0, RawTensor x1, RawTensor? @base, long vectors, bool alongFirst)
    {
        long n = x0.Length, length = ElementwiseShapes.CheckPairSums(sums, x0, x1, @base, vectors);
        if (n == 0 || !DeviceDTypes.HaveKernels([x0, x1], @base))
        {
            Cpu.PairSums(sums, x0, x1, @base, vectors, alongFirst);
            return;
        }
        var (blocked, columns, runLength, runs) = ElementwiseShapes.PairSumsPlan(n, length, vectors, alongFirst);
        var partials = new double[checked(runs * 4)];
        int hasBase = @base is null ? 0 : 1;
        fixed (double* p = partials)
        {
            if (columns)
            {
                Run("pair_sums_columns", "pair_sums", KernelGrid.Elementwise(vectors), WithBase([x0, x1], @base),
                    [Written(p, partials.Length), .. PackedInputs, Scalar(hasBase), Scalar(vectors), Scalar(length)]);
            }
            else
            {
                Run("pair_sums_runs", "pair_sums", KernelGrid.Reduction(runs), WithBase([x0, x1], @base),
                    [Written(p, partials.Length), .. PackedInputs, Scalar(hasBase), Scalar(runLength), Scalar(runs), Scalar(n)]);
            }
        }
        PartialSums.Add(sums, partials, blocked ? 1 : vectors, blocked ? runs : 1, 4, gram: false);
    }

    /// <inheritdoc/>
    public void SlerpBlend(RawTensor output, RawTensor x0, RawTensor x1, RawTensor? @base, ReadOnlySpan<float> coefficients, ReadOnlySpan<ulong> lerp, float t,
        long length, long vectors, bool alongFirst, long firstElement)
    {
        ElementwiseShapes.CheckSlerpBlend(output, x0, x1, @base, coefficients, lerp, length, vectors, firstElement);
        long n = output.Length;
        if (n == 0 || !OnDevice(output, [x0, x1], @base))
        {
            Cpu.SlerpBlend(output, x0, x1, @base, coefficients, lerp, t, length, vectors, alongFirst, firstElement);
            return;
        }
        var scalars = new SlerpBlendScalars(DeviceDTypes.Code(output.DType), @base is null ? 0 : 1, t, vectors, length / vectors, alongFirst ? 1 : 0, firstElement, n);
        Run("slerp_blend", KernelGrid.Elementwise(n), WithBase([x0, x1], @base),
            [Output(output), .. PackedInputs, Table(coefficients.ToArray()), Table(lerp[..(int)((vectors + 63) / 64)].ToArray()), Group(scalars)]);
    }

    /// <inheritdoc/>
    public void Gram(Span<double> gram, ReadOnlySpan<RawTensor> inputs, RawTensor? @base, long segmentLength)
    {
        int k = inputs.Length;
        var (segments, perSegment) = ElementwiseShapes.CheckGram(gram, inputs, @base, segmentLength);
        if (segments == 0 || !DeviceDTypes.HaveKernels(inputs, @base))
        {
            Cpu.Gram(gram, inputs, @base, segmentLength);
            return;
        }
        long items = segments * perSegment;
        var partials = new double[checked(items * k * k)];
        fixed (double* p = partials)
        {
            Run("gram_partials", "gram", KernelGrid.Reduction(items), WithBase(inputs, @base),
                [Written(p, partials.Length), .. PackedInputs, Scalar(k), Scalar(@base is null ? 0 : 1), Scalar(segmentLength), Scalar(perSegment), Scalar(items)]);
        }
        PartialSums.Add(gram, partials, segments, perSegment, k * k, gram: true);
    }

    /// <inheritdoc/>
    public void AbsDifference(NativeArray<float> magnitudes, RawTensor other, RawTensor @base)
    {
        long n = magnitudes.Length;
        ElementwiseShapes.CheckDifference(n, other, @base);
        if (n == 0 || !DeviceDTypes.HaveKernels([other], @base))
        {
            Cpu.AbsDifference(magnitudes, other, @base);
            return;
        }
        ulong firstBad;
        Run("abs_difference", KernelGrid.Elementwise(n), [],
            [Written(magnitudes.Pointer, n), Written(&firstBad, 1, fill: 0xFF), Tensor(other), Tensor(@base), DTypeOf(other), DTypeOf(@base), Scalar(n)]);
        NonFiniteInputs.ThrowIfAny(firstBad, @base);
    }

    /// <inheritdoc/>
    public void AbsDifferenceSums(Span<double> sums, RawTensor other, RawTensor @base, ReadOnlySpan<ulong> keep)
    {
        long n = other.Length, blocks = ElementwiseShapes.CheckSums(sums, other, @base, keep);
        if (n == 0 || !DeviceDTypes.HaveKernels([other], @base))
        {
            Cpu.AbsDifferenceSums(sums, other, @base, keep);
            return;
        }
        var partials = new double[blocks * 2];
        fixed (double* p = partials)
        {
            Run("abs_difference_sums", KernelGrid.Reduction(blocks), [],
                [Written(p, partials.Length), Tensor(other), Tensor(@base), Table(keep[..(int)((n + 63) / 64)].ToArray()), DTypeOf(other), DTypeOf(@base), Scalar(n)]);
        }
        PartialSums.Add(sums, partials, 1, blocks, 2, gram: false);
    }

    /// <inheritdoc/>
    public void RandomKeepMask(Span<ulong> keep, long length, ulong key, double density)
    {
        long words = ElementwiseShapes.CheckMask(keep, length);
        if (length == 0)
        {
            Cpu.RandomKeepMask(keep, length, key, density);
            return;
        }
        fixed (ulong* w = keep)
            Run("random_keep_mask", KernelGrid.Elementwise(words), [], [Written(w, words), Scalar(key), Scalar(density), Scalar(length)]);
        keep[(int)words..].Clear();
    }

    /// <inheritdoc/>
    public void TaskArithmetic(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, TaskArithmeticTerms terms, long maskStart)
    {
        ElementwiseShapes.CheckTaskArithmetic(output, models, @base, terms, maskStart);
        long n = output.Length;
        if (n == 0 || models.IsEmpty || !OnDevice(output, models, @base))
        {
            Cpu.TaskArithmetic(output, models, @base, terms, maskStart);
            return;
        }
        var (masks, hasMask, wordsPerModel) = ElementwiseShapes.MaskWindow(terms, maskStart, n);
        var scalars = new TaskArithmeticScalars(DeviceDTypes.Code(output.DType), models.Length, wordsPerModel, (int)(maskStart & 63), terms.SignConsensus ? 1 : 0,
            terms.Normalize ? 1 : 0, terms.Lambda, terms.LinearDivisor, n);
        Run("task_arithmetic", KernelGrid.Elementwise(n), WithBase(models, @base),
            [Output(output), .. PackedInputs, Table(terms.Weights.ToArray()), Table(terms.Scales.ToArray()), Table(masks), Table(hasMask), Group(scalars)]);
    }
}
