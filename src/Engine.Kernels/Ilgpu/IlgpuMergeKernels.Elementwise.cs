using Engine.Core;
using Engine.Core.Numerics;
using Engine.Kernels.Cpu;
using ILGPU;
using ILGPU.Runtime;

namespace Engine.Kernels.Ilgpu;

/// <summary>The <see cref="IElementwiseKernels"/> primitives on the accelerator (<see cref="IlgpuElementwiseKernels"/>).
/// Inputs are uploaded per call; masks only for the words the call's range touches. Dtypes other than
/// F32/BF16/F16, empty tensors and calls without inputs run on the CPU backend.</summary>
public sealed unsafe partial class IlgpuMergeKernels
{
    private Action<KernelConfig, ArrayView<byte>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, ArrayView<float>, int, int, int, long, long, long> _linearCombination = null!;
    private Action<KernelConfig, ArrayView<double>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, int, int, long, long, long> _gramPartials = null!;
    private Action<KernelConfig, ArrayView<float>, ArrayView<ulong>, ArrayView<byte>, ArrayView<byte>, int, int, long> _absDifference = null!;
    private Action<KernelConfig, ArrayView<double>, ArrayView<byte>, ArrayView<byte>, ArrayView<ulong>, int, int, long> _absDifferenceSums = null!;
    private Action<KernelConfig, ArrayView<ulong>, ulong, double, long> _randomKeepMask = null!;
    private Action<KernelConfig, ArrayView<byte>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<ulong>, ArrayView<int>,
        TaskArithmeticScalars> _taskArithmetic = null!;
    private Action<KernelConfig, ArrayView<byte>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, int, float, long> _nearSwap = null!;
    private Action<KernelConfig, ArrayView<byte>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, int, int, float, long> _countedAverage = null!;
    private Action<KernelConfig, ArrayView<float>, ArrayView<ulong>, ArrayView<long>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, int, long> _deltaVariance = null!;
    private Action<KernelConfig, ArrayView<double>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, ArrayView<ulong>, int, int, long> _deltaSquareSums = null!;
    private Action<KernelConfig, ArrayView<byte>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, ArrayView<float>, ArrayView<ulong>, int, int, int, int, long> _signElectedMean = null!;
    private Action<KernelConfig, ArrayView<double>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, int, long, long, long> _pairSumsRuns = null!;
    private Action<KernelConfig, ArrayView<double>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, int, long, long> _pairSumsColumns = null!;
    private Action<KernelConfig, ArrayView<byte>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, ArrayView<float>, ArrayView<ulong>, SlerpBlendScalars> _slerpBlend = null!;

    /// <summary>The kernels of <see cref="IlgpuElementwiseKernels"/> by name, for <see cref="GeneratePtx"/>.</summary>
    private static readonly string[] ElementwiseKernelNames =
    [
        nameof(IlgpuElementwiseKernels.LinearCombination), nameof(IlgpuElementwiseKernels.GramPartials), nameof(IlgpuElementwiseKernels.AbsDifference),
        nameof(IlgpuElementwiseKernels.AbsDifferenceSums), nameof(IlgpuElementwiseKernels.RandomKeepMask), nameof(IlgpuElementwiseKernels.TaskArithmetic),
        nameof(IlgpuElementwiseKernels.NearSwap), nameof(IlgpuElementwiseKernels.CountedAverage), nameof(IlgpuElementwiseKernels.DeltaVariance),
        nameof(IlgpuElementwiseKernels.DeltaSquareSums), nameof(IlgpuElementwiseKernels.SignElectedMean), nameof(IlgpuElementwiseKernels.PairSumsRuns),
        nameof(IlgpuElementwiseKernels.PairSumsColumns), nameof(IlgpuElementwiseKernels.SlerpBlend),
    ];

    private void LoadElementwiseKernels(Accelerator accelerator)
    {
        _linearCombination = accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, ArrayView<float>, int, int, int, long, long, long>(
            IlgpuElementwiseKernels.LinearCombination);
        _gramPartials = accelerator.LoadStreamKernel<ArrayView<double>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, int, int, long, long, long>(IlgpuElementwiseKernels.GramPartials);
        _absDifference = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<ulong>, ArrayView<byte>, ArrayView<byte>, int, int, long>(IlgpuElementwiseKernels.AbsDifference);
        _absDifferenceSums = accelerator.LoadStreamKernel<ArrayView<double>, ArrayView<byte>, ArrayView<byte>, ArrayView<ulong>, int, int, long>(IlgpuElementwiseKernels.AbsDifferenceSums);
        _randomKeepMask = accelerator.LoadStreamKernel<ArrayView<ulong>, ulong, double, long>(IlgpuElementwiseKernels.RandomKeepMask);
        _taskArithmetic = accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<ulong>, ArrayView<int>,
            TaskArithmeticScalars>(IlgpuElementwiseKernels.TaskArithmetic);
        _nearSwap = accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, int, float, long>(IlgpuElementwiseKernels.NearSwap);
        _countedAverage = accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, int, int, float, long>(IlgpuElementwiseKernels.CountedAverage);
        _deltaVariance = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<ulong>, ArrayView<long>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, int, long>(
            IlgpuElementwiseKernels.DeltaVariance);
        _deltaSquareSums = accelerator.LoadStreamKernel<ArrayView<double>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, ArrayView<ulong>, int, int, long>(
            IlgpuElementwiseKernels.DeltaSquareSums);
        _signElectedMean = accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, ArrayView<float>, ArrayView<ulong>, int, int, int, int, long>(
            IlgpuElementwiseKernels.SignElectedMean);
        _pairSumsRuns = accelerator.LoadStreamKernel<ArrayView<double>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, int, long, long, long>(IlgpuElementwiseKernels.PairSumsRuns);
        _pairSumsColumns = accelerator.LoadStreamKernel<ArrayView<double>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, int, long, long>(IlgpuElementwiseKernels.PairSumsColumns);
        _slerpBlend = accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<byte>, ArrayView<long>, ArrayView<int>, ArrayView<float>, ArrayView<ulong>, SlerpBlendScalars>(
            IlgpuElementwiseKernels.SlerpBlend);
    }

    public void SegmentedLinearCombination(RawTensor output, ReadOnlySpan<RawTensor> inputs, ReadOnlySpan<float> coefficients, RawTensor? @base,
        long segmentLength, long firstElement)
    {
        ElementwiseShapes.CheckSegmentedCombination(output, inputs, coefficients, @base, segmentLength, firstElement);
        long n = output.Length;
        if (n == 0 || inputs.IsEmpty || !ElementwiseShapes.IsDeviceDType(output.DType) || !ElementwiseShapes.OnDevice(inputs, @base))
        {
            _cpu.SegmentedLinearCombination(output, inputs, coefficients, @base, segmentLength, firstElement);
            return;
        }
        int k = inputs.Length, hasBase = @base is null ? 0 : 1;
        RunElementwise("linear_combination", output, inputs, @base, coefficients[ElementwiseShapes.SegmentRows(k, segmentLength, firstElement, n)], (result, packed, c) =>
            _linearCombination(ElementwiseGrid(n), result, packed.Bytes, packed.Offsets, packed.DTypes, c, DTypeCode(output.DType), k, hasBase, segmentLength, firstElement, n));
    }

    public void NearSwap(RawTensor output, RawTensor model, RawTensor @base, float t)
    {
        ElementwiseShapes.Check(output.Length, [model], @base);
        long n = output.Length;
        if (n == 0 || !ElementwiseShapes.IsDeviceDType(output.DType) || !ElementwiseShapes.OnDevice([model], @base))
        {
            _cpu.NearSwap(output, model, @base, t);
            return;
        }
        RunElementwise("near_swap", output, [model], @base, [], (result, packed, _) =>
            _nearSwap(ElementwiseGrid(n), result, packed.Bytes, packed.Offsets, packed.DTypes, DTypeCode(output.DType), t, n));
    }

    public void CountedAverage(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, float epsilon)
    {
        ElementwiseShapes.Check(output.Length, models, @base);
        long n = output.Length;
        if (n == 0 || models.IsEmpty || !ElementwiseShapes.IsDeviceDType(output.DType) || !ElementwiseShapes.OnDevice(models, @base))
        {
            _cpu.CountedAverage(output, models, @base, epsilon);
            return;
        }
        int k = models.Length;
        RunElementwise("counted_average", output, models, @base, [], (result, packed, _) =>
            _countedAverage(ElementwiseGrid(n), result, packed.Bytes, packed.Offsets, packed.DTypes, DTypeCode(output.DType), k, epsilon, n));
    }

    public long DeltaVariance(NativeArray<float> variance, ReadOnlySpan<RawTensor> models, RawTensor @base)
    {
        long n = variance.Length;
        ElementwiseShapes.Check(n, models, @base);
        if (n == 0 || models.IsEmpty || !ElementwiseShapes.OnDevice(models, @base)) return _cpu.DeltaVariance(variance, models, @base);
        ulong firstBad = ulong.MaxValue;
        long nonzero = 0;
        lock (_gate)
        {
            _accelerator.Bind();
            var stream = _accelerator.DefaultStream;
            using var packed = new PackedInputs(this, models, @base);
            using var result = _accelerator.Allocate1D<float>(n);
            using var bad = _accelerator.Allocate1D<ulong>(1);
            using var count = _accelerator.Allocate1D<long>(1);
            bad.View.MemSet(stream, 0xFF);
            count.View.MemSetToZero(stream);
            using (Kernel("delta_variance")) _deltaVariance(ElementwiseGrid(n), result.View, bad.View, count.View, packed.Bytes, packed.Offsets, packed.DTypes, models.Length, n);
            _staging.Download(variance.Pointer, result.View);
            bad.View.CopyToCPU(stream, ref firstBad, 1);
            count.View.CopyToCPU(stream, ref nonzero, 1);
            stream.Synchronize();
        }
        ElementwiseShapes.ThrowIfNonFinite(firstBad, @base);
        return nonzero;
    }

    public void DeltaSquareSums(Span<double> sums, ReadOnlySpan<RawTensor> models, RawTensor @base, ulong[]? keep)
    {
        int k = models.Length;
        long n = @base.Length, blocks = ElementwiseShapes.CheckSquareSums(sums, models, @base, keep);
        if (n == 0 || models.IsEmpty || !ElementwiseShapes.OnDevice(models, @base))
        {
            _cpu.DeltaSquareSums(sums, models, @base, keep);
            return;
        }
        var partials = new double[checked(blocks * k)];
        lock (_gate)
        {
            _accelerator.Bind();
            var stream = _accelerator.DefaultStream;
            using var packed = new PackedInputs(this, models, @base);
            using var words = _accelerator.Allocate1D(ElementwiseShapes.KeepWindow(keep, 0, n));
            using var device = _accelerator.Allocate1D<double>(partials.Length);
            using (Kernel("delta_square_sums")) _deltaSquareSums(ReductionGrid(blocks), device.View, packed.Bytes, packed.Offsets, packed.DTypes, words.View, keep is null ? 0 : 1, k, n);
            device.View.CopyToCPU(stream, ref partials[0], partials.Length);
            stream.Synchronize();
        }
        AddPartials(sums, partials, 1, blocks, k, gram: false);
    }

    public void SignElectedMean(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, ReadOnlySpan<float> weights, ulong[]? keep, long keepStart)
    {
        ElementwiseShapes.CheckSignElection(output, models, @base, weights, keep, keepStart);
        long n = output.Length;
        if (n == 0 || models.IsEmpty || !ElementwiseShapes.IsDeviceDType(output.DType) || !ElementwiseShapes.OnDevice(models, @base))
        {
            _cpu.SignElectedMean(output, models, @base, weights, keep, keepStart);
            return;
        }
        int k = models.Length, hasKeep = keep is null ? 0 : 1, bitOffset = (int)(keepStart & 63);
        var window = ElementwiseShapes.KeepWindow(keep, keepStart, n);
        RunElementwise("sign_elected_mean", output, models, @base, weights, (result, packed, w) =>
        {
            using var words = _accelerator.Allocate1D(window);
            _signElectedMean(ElementwiseGrid(n), result, packed.Bytes, packed.Offsets, packed.DTypes, w, words.View, DTypeCode(output.DType), k, hasKeep, bitOffset, n);
        });
    }

    public void PairSums(Span<double> sums, RawTensor x0, RawTensor x1, RawTensor? @base, long vectors, bool alongFirst)
    {
        long n = x0.Length, length = ElementwiseShapes.CheckPairSums(sums, x0, x1, @base, vectors);
        if (n == 0 || !ElementwiseShapes.OnDevice([x0, x1], @base))
        {
            _cpu.PairSums(sums, x0, x1, @base, vectors, alongFirst);
            return;
        }
        var (blocked, columns, runLength, runs) = ElementwiseShapes.PairSumsPlan(n, length, vectors, alongFirst);
        var partials = new double[checked(runs * 4)];
        lock (_gate)
        {
            _accelerator.Bind();
            var stream = _accelerator.DefaultStream;
            using var packed = new PackedInputs(this, [x0, x1], @base);
            using var device = _accelerator.Allocate1D<double>(partials.Length);
            int hasBase = @base is null ? 0 : 1;
            using (Kernel("pair_sums"))
            {
                if (columns) _pairSumsColumns(ElementwiseGrid(vectors), device.View, packed.Bytes, packed.Offsets, packed.DTypes, hasBase, vectors, length);
                else _pairSumsRuns(ReductionGrid(runs), device.View, packed.Bytes, packed.Offsets, packed.DTypes, hasBase, runLength, runs, n);
            }
            device.View.CopyToCPU(stream, ref partials[0], partials.Length);
            stream.Synchronize();
        }
        AddPartials(sums, partials, blocked ? 1 : vectors, blocked ? runs : 1, 4, gram: false);
    }

    public void SlerpBlend(RawTensor output, RawTensor x0, RawTensor x1, RawTensor? @base, ReadOnlySpan<float> coefficients, ReadOnlySpan<ulong> lerp, float t,
        long length, long vectors, bool alongFirst, long firstElement)
    {
        ElementwiseShapes.CheckSlerpBlend(output, x0, x1, @base, coefficients, lerp, length, vectors, firstElement);
        long n = output.Length;
        if (n == 0 || !ElementwiseShapes.IsDeviceDType(output.DType) || !ElementwiseShapes.OnDevice([x0, x1], @base))
        {
            _cpu.SlerpBlend(output, x0, x1, @base, coefficients, lerp, t, length, vectors, alongFirst, firstElement);
            return;
        }
        var scalars = new SlerpBlendScalars(DTypeCode(output.DType), @base is null ? 0 : 1, t, vectors, length / vectors, alongFirst ? 1 : 0, firstElement, n);
        var flags = lerp[..(int)((vectors + 63) / 64)].ToArray();
        RunElementwise("slerp_blend", output, [x0, x1], @base, coefficients, (result, packed, c) =>
        {
            using var words = _accelerator.Allocate1D(flags);
            _slerpBlend(ElementwiseGrid(n), result, packed.Bytes, packed.Offsets, packed.DTypes, c, words.View, scalars);
        });
    }

    /// <summary>One element-wise launch: uploads the inputs (the base after them) and <paramref name="table"/>, runs
    /// <paramref name="launch"/>(result bytes, inputs, table) and downloads the result into <paramref name="output"/>.</summary>
    private void RunElementwise(string kernel, RawTensor output, ReadOnlySpan<RawTensor> inputs, RawTensor? @base, ReadOnlySpan<float> table,
        Action<ArrayView<byte>, PackedInputs, ArrayView<float>> launch)
    {
        lock (_gate)
        {
            _accelerator.Bind();
            var stream = _accelerator.DefaultStream;
            using var packed = new PackedInputs(this, inputs, @base);
            using var values = _accelerator.Allocate1D(table.IsEmpty ? [0f] : table.ToArray());
            using var result = _accelerator.Allocate1D<byte>(Math.Max(4, (output.ByteLength + 3) & ~3L));
            using (Kernel(kernel)) launch(result.View, packed, values.View);
            _staging.Download(output.Pointer, result.View.SubView(0, output.ByteLength));
            stream.Synchronize();
        }
    }

    public void Gram(Span<double> gram, ReadOnlySpan<RawTensor> inputs, RawTensor? @base, long segmentLength)
    {
        int k = inputs.Length;
        var (segments, perSegment) = ElementwiseShapes.CheckGram(gram, inputs, @base, segmentLength);
        if (segments == 0 || !ElementwiseShapes.OnDevice(inputs, @base))
        {
            _cpu.Gram(gram, inputs, @base, segmentLength);
            return;
        }
        long items = segments * perSegment;
        var partials = new double[checked(items * k * k)];
        lock (_gate)
        {
            _accelerator.Bind();
            var stream = _accelerator.DefaultStream;
            using var packed = new PackedInputs(this, inputs, @base);
            using var device = _accelerator.Allocate1D<double>(partials.Length);
            using (Kernel("gram")) _gramPartials(ReductionGrid(items), device.View, packed.Bytes, packed.Offsets, packed.DTypes, k, @base is null ? 0 : 1, segmentLength, perSegment, items);
            device.View.CopyToCPU(stream, ref partials[0], partials.Length);
            stream.Synchronize();
        }
        AddPartials(gram, partials, segments, perSegment, k * k, gram: true);
    }

    public void AbsDifference(NativeArray<float> magnitudes, RawTensor other, RawTensor @base)
    {
        long n = magnitudes.Length;
        ElementwiseShapes.CheckDifference(n, other, @base);
        if (n == 0 || !ElementwiseShapes.IsDeviceDType(other.DType) || !ElementwiseShapes.IsDeviceDType(@base.DType))
        {
            _cpu.AbsDifference(magnitudes, other, @base);
            return;
        }
        ulong firstBad = ulong.MaxValue;
        lock (_gate)
        {
            _accelerator.Bind();
            var stream = _accelerator.DefaultStream;
            using var x = Upload(other.Pointer, other.ByteLength);
            using var y = Upload(@base.Pointer, @base.ByteLength);
            using var result = _accelerator.Allocate1D<float>(n);
            using var bad = _accelerator.Allocate1D<ulong>(1);
            bad.View.MemSet(stream, 0xFF);
            using (Kernel("abs_difference")) _absDifference(ElementwiseGrid(n), result.View, bad.View, x.View, y.View, DTypeCode(other.DType), DTypeCode(@base.DType), n);
            _staging.Download(magnitudes.Pointer, result.View);
            bad.View.CopyToCPU(stream, ref firstBad, 1);
            stream.Synchronize();
        }
        ElementwiseShapes.ThrowIfNonFinite(firstBad, @base);
    }

    public void AbsDifferenceSums(Span<double> sums, RawTensor other, RawTensor @base, ReadOnlySpan<ulong> keep)
    {
        long n = other.Length, blocks = ElementwiseShapes.CheckSums(sums, other, @base, keep);
        if (n == 0 || !ElementwiseShapes.IsDeviceDType(other.DType) || !ElementwiseShapes.IsDeviceDType(@base.DType))
        {
            _cpu.AbsDifferenceSums(sums, other, @base, keep);
            return;
        }
        var partials = new double[blocks * 2];
        lock (_gate)
        {
            _accelerator.Bind();
            var stream = _accelerator.DefaultStream;
            using var x = Upload(other.Pointer, other.ByteLength);
            using var y = Upload(@base.Pointer, @base.ByteLength);
            using var words = _accelerator.Allocate1D(keep[..(int)((n + 63) / 64)].ToArray());
            using var device = _accelerator.Allocate1D<double>(partials.Length);
            using (Kernel("abs_difference_sums")) _absDifferenceSums(ReductionGrid(blocks), device.View, x.View, y.View, words.View, DTypeCode(other.DType), DTypeCode(@base.DType), n);
            device.View.CopyToCPU(stream, ref partials[0], partials.Length);
            stream.Synchronize();
        }
        AddPartials(sums, partials, 1, blocks, 2, gram: false);
    }

    public void RandomKeepMask(Span<ulong> keep, long length, ulong key, double density)
    {
        long words = ElementwiseShapes.CheckMask(keep, length);
        if (length == 0)
        {
            _cpu.RandomKeepMask(keep, length, key, density);
            return;
        }
        lock (_gate)
        {
            _accelerator.Bind();
            var stream = _accelerator.DefaultStream;
            using var device = _accelerator.Allocate1D<ulong>(words);
            using (Kernel("random_keep_mask")) _randomKeepMask(ElementwiseGrid(words), device.View, key, density, length);
            device.View.CopyToCPU(stream, ref keep[0], words);
            stream.Synchronize();
        }
        keep[(int)words..].Clear();
    }

    public void TaskArithmetic(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, TaskArithmeticTerms terms, long maskStart)
    {
        ElementwiseShapes.CheckTaskArithmetic(output, models, @base, terms, maskStart);
        long n = output.Length;
        if (n == 0 || models.IsEmpty || !ElementwiseShapes.IsDeviceDType(output.DType) || !ElementwiseShapes.OnDevice(models, @base))
        {
            _cpu.TaskArithmetic(output, models, @base, terms, maskStart);
            return;
        }
        int k = models.Length;
        var (masks, hasMask, wordsPerModel) = ElementwiseShapes.MaskWindow(terms, maskStart, n);
        lock (_gate)
        {
            _accelerator.Bind();
            var stream = _accelerator.DefaultStream;
            using var packed = new PackedInputs(this, models, @base);
            using var weights = _accelerator.Allocate1D(terms.Weights.ToArray());
            using var scales = _accelerator.Allocate1D(terms.Scales.ToArray());
            using var maskWords = _accelerator.Allocate1D(masks);
            using var maskFlags = _accelerator.Allocate1D(hasMask);
            using var result = _accelerator.Allocate1D<byte>(Math.Max(4, (output.ByteLength + 3) & ~3L));
            using (Kernel("task_arithmetic")) _taskArithmetic(ElementwiseGrid(n), result.View, packed.Bytes, packed.Offsets, packed.DTypes, weights.View, scales.View, maskWords.View, maskFlags.View,
                new TaskArithmeticScalars(DTypeCode(output.DType), k, wordsPerModel, (int)(maskStart & 63), terms.SignConsensus ? 1 : 0, terms.Normalize ? 1 : 0, terms.Lambda, terms.LinearDivisor, n));
            _staging.Download(output.Pointer, result.View.SubView(0, output.ByteLength));
            stream.Synchronize();
        }
    }

    /// <summary>Adds the per-block partials (segments, perSegment, width) of a reduction in block order into
    /// <paramref name="sums"/> (segments, width). With <paramref name="gram"/>, width is k*k, only the upper triangle
    /// holds partials and the lower is mirrored.</summary>
    internal static void AddPartials(Span<double> sums, double[] partials, long segments, long perSegment, int width, bool gram)
    {
        sums.Clear();
        int k = gram ? (int)Math.Round(Math.Sqrt(width)) : width;
        for (long s = 0; s < segments; s++)
        {
            var target = sums.Slice((int)(s * width), width);
            for (long b = 0; b < perSegment; b++)
            {
                for (int w = 0; w < width; w++)
                {
                    if (!gram || w % k >= w / k) target[w] += partials[(s * perSegment + b) * width + w];
                }
            }
            if (!gram) continue;
            for (int i = 0; i < k; i++)
            {
                for (int j = 0; j < i; j++) target[i * k + j] = target[j * k + i];
            }
        }
    }

    private KernelConfig ElementwiseGrid(long n) => new((int)Math.Clamp((n + _group - 1) / _group, 1, Math.Max(1, _accelerator.NumMultiprocessors) * 16L), _group);

    private KernelConfig ReductionGrid(long items) => new((int)Math.Clamp(items, 1, Math.Max(1, _accelerator.NumMultiprocessors) * 16L), _group);

    /// <summary>Inputs (and the base after them) in one device buffer, each at a 16-byte-aligned offset.</summary>
    private readonly struct PackedInputs : IDisposable
    {
        private readonly MemoryBuffer1D<byte, Stride1D.Dense> _bytes;
        private readonly MemoryBuffer1D<long, Stride1D.Dense> _offsets;
        private readonly MemoryBuffer1D<int, Stride1D.Dense> _dtypes;

        public PackedInputs(IlgpuMergeKernels owner, ReadOnlySpan<RawTensor> inputs, RawTensor? @base)
        {
            var all = new List<RawTensor>(inputs.ToArray());
            if (@base is { } b) all.Add(b);
            var offsets = new long[all.Count];
            long total = 0;
            for (int i = 0; i < all.Count; i++)
            {
                offsets[i] = total;
                total += (all[i].ByteLength + 15) & ~15L;
            }
            var accelerator = owner._accelerator;
            _bytes = accelerator.Allocate1D<byte>(Math.Max(16, total));
            for (int i = 0; i < all.Count; i++) owner._staging.Upload(_bytes.View.SubView(offsets[i], all[i].ByteLength), all[i].Pointer);
            owner._staging.Flush();
            _offsets = accelerator.Allocate1D(offsets);
            _dtypes = accelerator.Allocate1D(all.Select(x => DTypeCode(x.DType)).ToArray());
        }

        public ArrayView<byte> Bytes => _bytes.View;
        public ArrayView<long> Offsets => _offsets.View;
        public ArrayView<int> DTypes => _dtypes.View;

        public void Dispose()
        {
            _bytes.Dispose();
            _offsets.Dispose();
            _dtypes.Dispose();
        }
    }
}
