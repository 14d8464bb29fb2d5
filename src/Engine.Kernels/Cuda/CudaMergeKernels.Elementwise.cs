using System.Runtime.InteropServices;
using Engine.Core.Diagnostics;
using Engine.Core.Numerics;
using Engine.Interop.Cuda;
using Engine.Kernels.Cpu;
using Engine.Kernels.Ilgpu;

namespace Engine.Kernels.Cuda;

/// <summary>The <see cref="IElementwiseKernels"/> primitives as the CUDA C kernels of <c>kernels/cuda/elementwise.cu</c>.
/// Inputs are staged per call into one packed device buffer (each input at a 16-byte-aligned offset, the base
/// after the models), the per-input tables (offsets, dtypes, coefficients, weights, mask words) into a second;
/// reductions download one float64 partial per block and add them in block order on the host. Dtypes other
/// than F32/BF16/F16, empty tensors and calls without inputs run on the CPU backend.</summary>
public sealed unsafe partial class CudaMergeKernels
{
    private const uint ElementwiseBlock = 256;

    private DeviceSlot _table = null!;

    internal CudaKernel LinearCombinationKernel { get; private set; } = null!;
    internal CudaKernel GramPartialsKernel { get; private set; } = null!;
    internal CudaKernel AbsDifferenceKernel { get; private set; } = null!;
    internal CudaKernel AbsDifferenceSumsKernel { get; private set; } = null!;
    internal CudaKernel RandomKeepMaskKernel { get; private set; } = null!;
    internal CudaKernel TaskArithmeticKernel { get; private set; } = null!;
    internal CudaKernel NearSwapKernel { get; private set; } = null!;
    internal CudaKernel CountedAverageKernel { get; private set; } = null!;
    internal CudaKernel DeltaVarianceKernel { get; private set; } = null!;
    internal CudaKernel DeltaSquareSumsKernel { get; private set; } = null!;
    internal CudaKernel SignElectedMeanKernel { get; private set; } = null!;
    internal CudaKernel PairSumsRunsKernel { get; private set; } = null!;
    internal CudaKernel PairSumsColumnsKernel { get; private set; } = null!;
    internal CudaKernel SlerpBlendKernel { get; private set; } = null!;

    private void LoadElementwiseKernels(CudaModule module)
    {
        LinearCombinationKernel = module.GetKernel("linear_combination_kernel");
        GramPartialsKernel = module.GetKernel("gram_partials_kernel");
        AbsDifferenceKernel = module.GetKernel("abs_difference_kernel");
        AbsDifferenceSumsKernel = module.GetKernel("abs_difference_sums_kernel");
        RandomKeepMaskKernel = module.GetKernel("random_keep_mask_kernel");
        TaskArithmeticKernel = module.GetKernel("task_arithmetic_kernel");
        NearSwapKernel = module.GetKernel("near_swap_kernel");
        CountedAverageKernel = module.GetKernel("counted_average_kernel");
        DeltaVarianceKernel = module.GetKernel("delta_variance_kernel");
        DeltaSquareSumsKernel = module.GetKernel("delta_square_sums_kernel");
        SignElectedMeanKernel = module.GetKernel("sign_elected_mean_kernel");
        PairSumsRunsKernel = module.GetKernel("pair_sums_runs_kernel");
        PairSumsColumnsKernel = module.GetKernel("pair_sums_columns_kernel");
        SlerpBlendKernel = module.GetKernel("slerp_blend_kernel");
        _table = new DeviceSlot(Context);
    }

    public void SegmentedLinearCombination(RawTensor output, ReadOnlySpan<RawTensor> inputs, ReadOnlySpan<float> coefficients, RawTensor? @base,
        long segmentLength, long firstElement)
    {
        ElementwiseShapes.CheckSegmentedCombination(output, inputs, coefficients, @base, segmentLength, firstElement);
        long n = output.Length;
        if (n == 0 || inputs.IsEmpty || !IsDeviceDType(output.DType) || !ElementwiseShapes.OnDevice(inputs, @base))
        {
            _cpu.SegmentedLinearCombination(output, inputs, coefficients, @base, segmentLength, firstElement);
            return;
        }
        int k = inputs.Length, hasBase = @base is null ? 0 : 1;
        var rows = coefficients[ElementwiseShapes.SegmentRows(k, segmentLength, firstElement, n)];
        RunElementwise("linear_combination (device)", output, inputs, @base, rows, [], (pack, pc, _) =>
        {
            int kk = k, withBase = hasBase;
            long seg = segmentLength, first = firstElement;
            LinearCombinationKernel.Launch(Stream, Grid(n), ElementwiseBlock, 0,
                [pack.Output, pack.Packed, pack.Offsets, pack.DTypes, (nint)(&pc), pack.OutputDType, (nint)(&kk), (nint)(&withBase), (nint)(&seg), (nint)(&first), pack.Count]);
        });
    }

    public void NearSwap(RawTensor output, RawTensor model, RawTensor @base, float t)
    {
        ElementwiseShapes.Check(output.Length, [model], @base);
        if (output.Length == 0 || !IsDeviceDType(output.DType) || !ElementwiseShapes.OnDevice([model], @base))
        {
            _cpu.NearSwap(output, model, @base, t);
            return;
        }
        RunElementwise("near_swap (device)", output, [model], @base, [], [], (pack, _, _) =>
        {
            float tt = t;
            NearSwapKernel.Launch(Stream, Grid(output.Length), ElementwiseBlock, 0,
                [pack.Output, pack.Packed, pack.Offsets, pack.DTypes, pack.OutputDType, (nint)(&tt), pack.Count]);
        });
    }

    public void CountedAverage(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, float epsilon)
    {
        ElementwiseShapes.Check(output.Length, models, @base);
        if (output.Length == 0 || models.IsEmpty || !IsDeviceDType(output.DType) || !ElementwiseShapes.OnDevice(models, @base))
        {
            _cpu.CountedAverage(output, models, @base, epsilon);
            return;
        }
        int k = models.Length;
        RunElementwise("counted_average (device)", output, models, @base, [], [], (pack, _, _) =>
        {
            int kk = k;
            float eps = epsilon;
            CountedAverageKernel.Launch(Stream, Grid(output.Length), ElementwiseBlock, 0,
                [pack.Output, pack.Packed, pack.Offsets, pack.DTypes, pack.OutputDType, (nint)(&kk), (nint)(&eps), pack.Count]);
        });
    }

    public long DeltaVariance(NativeArray<float> variance, ReadOnlySpan<RawTensor> models, RawTensor @base)
    {
        long n = variance.Length;
        ElementwiseShapes.Check(n, models, @base);
        if (n == 0 || models.IsEmpty || !ElementwiseShapes.OnDevice(models, @base)) return _cpu.DeltaVariance(variance, models, @base);
        ulong firstBad, nonzero;
        lock (_gate)
        {
            Context.MakeCurrent();
            var table = new DeviceTable();
            var packed = UploadPacked(models, @base, table);
            ulong tableAddress = UploadTable(table);
            var result = _importance.Ensure(variance.ByteLength);
            var bad = _scratch.Ensure(sizeof(ulong));
            var counted = _output.Ensure(sizeof(ulong));
            using (Trace.Span("delta_variance (device)", "kernel"))
            {
                Stream.Fill(bad, 0xFF, sizeof(ulong));
                Stream.Fill(counted, 0, sizeof(ulong));
                ulong pv = result.Address, pb = bad.Address, pn = counted.Address, pp = packed.Address;
                ulong pofs = tableAddress + (ulong)packed.Offsets, pdt = tableAddress + (ulong)packed.DTypes;
                int k = models.Length;
                long count = n;
                DeltaVarianceKernel.Launch(Stream, Grid(n), ElementwiseBlock, 0, [(nint)(&pv), (nint)(&pb), (nint)(&pn), (nint)(&pp), (nint)(&pofs), (nint)(&pdt), (nint)(&k), (nint)(&count)]);
                SyncIfTracing();
            }
            using var download = Trace.Span("download", "download", $"{variance.ByteLength} bytes");
            Staging.DownloadSmall(&firstBad, bad, sizeof(ulong));
            Staging.DownloadSmall(&nonzero, counted, sizeof(ulong));
            Staging.Download((byte*)variance.Pointer, result, 0, variance.ByteLength);
        }
        ElementwiseShapes.ThrowIfNonFinite(firstBad, @base);
        return (long)nonzero;
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
            Context.MakeCurrent();
            var table = new DeviceTable();
            var packed = UploadPacked(models, @base, table);
            long pw = table.Add<ulong>(ElementwiseShapes.KeepWindow(keep, 0, n));
            ulong tableAddress = UploadTable(table);
            var device = _rowKl.Ensure(partials.Length * sizeof(double));
            using (Trace.Span("delta_square_sums (device)", "kernel"))
            {
                ulong pd = device.Address, pp = packed.Address, pofs = tableAddress + (ulong)packed.Offsets, pdt = tableAddress + (ulong)packed.DTypes, pk = tableAddress + (ulong)pw;
                int hasKeep = keep is null ? 0 : 1, kk = k;
                long count = n;
                uint grid = (uint)Math.Clamp(blocks, 1, Context.Multiprocessors * 16L);
                DeltaSquareSumsKernel.Launch(Stream, grid, ElementwiseBlock, 0, [(nint)(&pd), (nint)(&pp), (nint)(&pofs), (nint)(&pdt), (nint)(&pk), (nint)(&hasKeep), (nint)(&kk), (nint)(&count)]);
                SyncIfTracing();
            }
            fixed (double* p = partials) Staging.Download((byte*)p, device, 0, partials.Length * sizeof(double));
        }
        IlgpuMergeKernels.AddPartials(sums, partials, 1, blocks, k, gram: false);
    }

    public void SignElectedMean(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, ReadOnlySpan<float> weights, ulong[]? keep, long keepStart)
    {
        ElementwiseShapes.CheckSignElection(output, models, @base, weights, keep, keepStart);
        if (output.Length == 0 || models.IsEmpty || !IsDeviceDType(output.DType) || !ElementwiseShapes.OnDevice(models, @base))
        {
            _cpu.SignElectedMean(output, models, @base, weights, keep, keepStart);
            return;
        }
        int k = models.Length, hasKeep = keep is null ? 0 : 1, bitOffset = (int)(keepStart & 63);
        RunElementwise("sign_elected_mean (device)", output, models, @base, weights, ElementwiseShapes.KeepWindow(keep, keepStart, output.Length), (pack, pw, pk) =>
        {
            int kk = k, withKeep = hasKeep, offset = bitOffset;
            SignElectedMeanKernel.Launch(Stream, Grid(output.Length), ElementwiseBlock, 0,
                [pack.Output, pack.Packed, pack.Offsets, pack.DTypes, (nint)(&pw), (nint)(&pk), pack.OutputDType, (nint)(&kk), (nint)(&withKeep), (nint)(&offset), pack.Count]);
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
            Context.MakeCurrent();
            var table = new DeviceTable();
            var packed = UploadPacked([x0, x1], @base, table);
            ulong tableAddress = UploadTable(table);
            var device = _rowKl.Ensure(partials.Length * sizeof(double));
            using (Trace.Span("pair_sums (device)", "kernel"))
            {
                ulong pd = device.Address, pp = packed.Address, pofs = tableAddress + (ulong)packed.Offsets, pdt = tableAddress + (ulong)packed.DTypes;
                int hasBase = @base is null ? 0 : 1;
                long vs = vectors, len = length, rl = runLength, rs = runs, count = n;
                if (columns)
                    PairSumsColumnsKernel.Launch(Stream, Grid(vectors), ElementwiseBlock, 0, [(nint)(&pd), (nint)(&pp), (nint)(&pofs), (nint)(&pdt), (nint)(&hasBase), (nint)(&vs), (nint)(&len)]);
                else
                    PairSumsRunsKernel.Launch(Stream, (uint)Math.Clamp(runs, 1, Context.Multiprocessors * 16L), ElementwiseBlock, 0,
                        [(nint)(&pd), (nint)(&pp), (nint)(&pofs), (nint)(&pdt), (nint)(&hasBase), (nint)(&rl), (nint)(&rs), (nint)(&count)]);
                SyncIfTracing();
            }
            fixed (double* p = partials) Staging.Download((byte*)p, device, 0, partials.Length * sizeof(double));
        }
        IlgpuMergeKernels.AddPartials(sums, partials, blocked ? 1 : vectors, blocked ? runs : 1, 4, gram: false);
    }

    public void SlerpBlend(RawTensor output, RawTensor x0, RawTensor x1, RawTensor? @base, ReadOnlySpan<float> coefficients, ReadOnlySpan<ulong> lerp, float t,
        long length, long vectors, bool alongFirst, long firstElement)
    {
        ElementwiseShapes.CheckSlerpBlend(output, x0, x1, @base, coefficients, lerp, length, vectors, firstElement);
        if (output.Length == 0 || !IsDeviceDType(output.DType) || !ElementwiseShapes.OnDevice([x0, x1], @base))
        {
            _cpu.SlerpBlend(output, x0, x1, @base, coefficients, lerp, t, length, vectors, alongFirst, firstElement);
            return;
        }
        int hasBase = @base is null ? 0 : 1, along = alongFirst ? 1 : 0;
        RunElementwise("slerp_blend (device)", output, [x0, x1], @base, coefficients, lerp[..(int)((vectors + 63) / 64)], (pack, pc, pl) =>
        {
            int withBase = hasBase, alongFirstDim = along;
            float tt = t;
            long vs = vectors, vectorLength = length / vectors, first = firstElement;
            SlerpBlendKernel.Launch(Stream, Grid(output.Length), ElementwiseBlock, 0,
            [
                pack.Output, pack.Packed, pack.Offsets, pack.DTypes, (nint)(&pc), (nint)(&pl), pack.OutputDType, (nint)(&withBase), (nint)(&tt), (nint)(&vs),
                (nint)(&vectorLength), (nint)(&alongFirstDim), (nint)(&first), pack.Count,
            ]);
        });
    }

    /// <summary>One element-wise launch: stages the inputs (the base after them), <paramref name="values"/> (a float
    /// table) and <paramref name="words"/> (mask words), runs <paramref name="launch"/>(the common arguments, the two
    /// tables' device addresses) under a trace span named <paramref name="span"/>, and downloads the result into
    /// <paramref name="output"/>.</summary>
    private void RunElementwise(string span, RawTensor output, ReadOnlySpan<RawTensor> inputs, RawTensor? @base, ReadOnlySpan<float> values, ReadOnlySpan<ulong> words,
        ElementwiseLaunch launch)
    {
        lock (_gate)
        {
            Context.MakeCurrent();
            var table = new DeviceTable();
            var packed = UploadPacked(inputs, @base, table);
            long pv = table.Add(values), pw = table.Add(words);
            ulong tableAddress = UploadTable(table);
            var result = _output.Ensure(output.ByteLength);
            using (Trace.Span(span, "kernel"))
            {
                ulong po = result.Address, pp = packed.Address, pofs = tableAddress + (ulong)packed.Offsets, pdt = tableAddress + (ulong)packed.DTypes;
                int dout = DTypeCode(output.DType);
                long count = output.Length;
                launch(new ElementwiseArguments((nint)(&po), (nint)(&pp), (nint)(&pofs), (nint)(&pdt), (nint)(&dout), (nint)(&count)), tableAddress + (ulong)pv, tableAddress + (ulong)pw);
                SyncIfTracing();
            }
            using var download = Trace.Span("download", "download", $"{output.ByteLength} bytes");
            Staging.Download(output.Pointer, result, 0, output.ByteLength);
        }
    }

    /// <summary>Pointers to the launch arguments every element-wise kernel takes: output and packed inputs'
    /// device addresses, the offsets and dtypes tables, the output dtype code and the element count.</summary>
    private readonly record struct ElementwiseArguments(nint Output, nint Packed, nint Offsets, nint DTypes, nint OutputDType, nint Count);

    private delegate void ElementwiseLaunch(ElementwiseArguments arguments, ulong values, ulong words);

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
            Context.MakeCurrent();
            var table = new DeviceTable();
            var packed = UploadPacked(inputs, @base, table);
            ulong tableAddress = UploadTable(table);
            var device = _rowKl.Ensure(partials.Length * sizeof(double));
            using (Trace.Span("gram (device)", "kernel"))
            {
                ulong pd = device.Address, pp = packed.Address, pofs = tableAddress + (ulong)packed.Offsets, pdt = tableAddress + (ulong)packed.DTypes;
                int kk = k, hasBase = @base is null ? 0 : 1;
                long seg = segmentLength, per = perSegment, count = items;
                uint grid = (uint)Math.Clamp(items, 1, Context.Multiprocessors * 16L);
                GramPartialsKernel.Launch(Stream, grid, ElementwiseBlock, 0, [(nint)(&pd), (nint)(&pp), (nint)(&pofs), (nint)(&pdt), (nint)(&kk), (nint)(&hasBase), (nint)(&seg), (nint)(&per), (nint)(&count)]);
                SyncIfTracing();
            }
            fixed (double* p = partials) Staging.Download((byte*)p, device, 0, partials.Length * sizeof(double));
        }
        IlgpuMergeKernels.AddPartials(gram, partials, segments, perSegment, k * k, gram: true);
    }

    public void AbsDifference(NativeArray<float> magnitudes, RawTensor other, RawTensor @base)
    {
        long n = magnitudes.Length;
        ElementwiseShapes.CheckDifference(n, other, @base);
        if (n == 0 || !IsDeviceDType(other.DType) || !IsDeviceDType(@base.DType))
        {
            _cpu.AbsDifference(magnitudes, other, @base);
            return;
        }
        ulong firstBad;
        lock (_gate)
        {
            Context.MakeCurrent();
            var x = _a.Ensure(other.ByteLength);
            var y = _b.Ensure(@base.ByteLength);
            var result = _importance.Ensure(magnitudes.ByteLength);
            var bad = _scratch.Ensure(sizeof(ulong));
            using (Trace.Span("upload", "upload", $"{other.ByteLength + @base.ByteLength} bytes"))
            {
                Staging.Upload(x, 0, other.Pointer, other.ByteLength);
                Staging.Upload(y, 0, @base.Pointer, @base.ByteLength);
            }
            using (Trace.Span("abs_difference (device)", "kernel"))
            {
                Stream.Fill(bad, 0xFF, sizeof(ulong));
                ulong pm = result.Address, pb = bad.Address, px = x.Address, py = y.Address;
                int dx = DTypeCode(other.DType), dy = DTypeCode(@base.DType);
                long count = n;
                AbsDifferenceKernel.Launch(Stream, Grid(n), ElementwiseBlock, 0, [(nint)(&pm), (nint)(&pb), (nint)(&px), (nint)(&py), (nint)(&dx), (nint)(&dy), (nint)(&count)]);
                SyncIfTracing();
            }
            using var download = Trace.Span("download", "download", $"{magnitudes.ByteLength} bytes");
            Staging.DownloadSmall(&firstBad, bad, sizeof(ulong));
            Staging.Download((byte*)magnitudes.Pointer, result, 0, magnitudes.ByteLength);
        }
        ElementwiseShapes.ThrowIfNonFinite(firstBad, @base);
    }

    public void AbsDifferenceSums(Span<double> sums, RawTensor other, RawTensor @base, ReadOnlySpan<ulong> keep)
    {
        long n = other.Length, blocks = ElementwiseShapes.CheckSums(sums, other, @base, keep);
        if (n == 0 || !IsDeviceDType(other.DType) || !IsDeviceDType(@base.DType))
        {
            _cpu.AbsDifferenceSums(sums, other, @base, keep);
            return;
        }
        var partials = new double[blocks * 2];
        lock (_gate)
        {
            Context.MakeCurrent();
            var x = _a.Ensure(other.ByteLength);
            var y = _b.Ensure(@base.ByteLength);
            long words = (n + 63) / 64;
            var mask = _importance.Ensure(words * sizeof(ulong));
            var device = _rowKl.Ensure(partials.Length * sizeof(double));
            using (Trace.Span("upload", "upload", $"{other.ByteLength + @base.ByteLength + words * sizeof(ulong)} bytes"))
            {
                Staging.Upload(x, 0, other.Pointer, other.ByteLength);
                Staging.Upload(y, 0, @base.Pointer, @base.ByteLength);
                fixed (ulong* w = keep) Staging.Upload(mask, 0, (byte*)w, words * sizeof(ulong));
            }
            using (Trace.Span("abs_difference_sums (device)", "kernel"))
            {
                ulong pd = device.Address, px = x.Address, py = y.Address, pk = mask.Address;
                int dx = DTypeCode(other.DType), dy = DTypeCode(@base.DType);
                long count = n;
                uint grid = (uint)Math.Clamp(blocks, 1, Context.Multiprocessors * 16L);
                AbsDifferenceSumsKernel.Launch(Stream, grid, ElementwiseBlock, 0, [(nint)(&pd), (nint)(&px), (nint)(&py), (nint)(&pk), (nint)(&dx), (nint)(&dy), (nint)(&count)]);
                SyncIfTracing();
            }
            fixed (double* p = partials) Staging.Download((byte*)p, device, 0, partials.Length * sizeof(double));
        }
        IlgpuMergeKernels.AddPartials(sums, partials, 1, blocks, 2, gram: false);
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
            Context.MakeCurrent();
            var device = _output.Ensure(words * sizeof(ulong));
            using (Trace.Span("random_keep_mask (device)", "kernel"))
            {
                ulong pk = device.Address, k = key;
                double d = density;
                long count = length;
                RandomKeepMaskKernel.Launch(Stream, Grid(words), ElementwiseBlock, 0, [(nint)(&pk), (nint)(&k), (nint)(&d), (nint)(&count)]);
                SyncIfTracing();
            }
            fixed (ulong* w = keep) Staging.Download((byte*)w, device, 0, words * sizeof(ulong));
        }
        keep[(int)words..].Clear();
    }

    public void TaskArithmetic(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, TaskArithmeticTerms terms, long maskStart)
    {
        ElementwiseShapes.CheckTaskArithmetic(output, models, @base, terms, maskStart);
        long n = output.Length;
        if (n == 0 || models.IsEmpty || !IsDeviceDType(output.DType) || !ElementwiseShapes.OnDevice(models, @base))
        {
            _cpu.TaskArithmetic(output, models, @base, terms, maskStart);
            return;
        }
        var (masks, hasMask, wordsPerModel) = ElementwiseShapes.MaskWindow(terms, maskStart, n);
        lock (_gate)
        {
            Context.MakeCurrent();
            var table = new DeviceTable();
            var packed = UploadPacked(models, @base, table);
            long pw = table.Add(terms.Weights.AsSpan()), ps = table.Add(terms.Scales.AsSpan()), pm = table.Add<ulong>(masks), ph = table.Add<int>(hasMask);
            ulong tableAddress = UploadTable(table);
            var result = _output.Ensure(output.ByteLength);
            using (Trace.Span("task_arithmetic (device)", "kernel"))
            {
                ulong po = result.Address, pp = packed.Address, pofs = tableAddress + (ulong)packed.Offsets, pdt = tableAddress + (ulong)packed.DTypes;
                ulong pwe = tableAddress + (ulong)pw, psc = tableAddress + (ulong)ps, pma = tableAddress + (ulong)pm, pha = tableAddress + (ulong)ph;
                int dout = DTypeCode(output.DType), k = models.Length, bitOffset = (int)(maskStart & 63), consensus = terms.SignConsensus ? 1 : 0, normalize = terms.Normalize ? 1 : 0;
                long wpm = wordsPerModel, count = n;
                float lambda = terms.Lambda, divisor = terms.LinearDivisor;
                TaskArithmeticKernel.Launch(Stream, Grid(n), ElementwiseBlock, 0,
                [
                    (nint)(&po), (nint)(&pp), (nint)(&pofs), (nint)(&pdt), (nint)(&pwe), (nint)(&psc), (nint)(&pma), (nint)(&pha),
                    (nint)(&dout), (nint)(&k), (nint)(&wpm), (nint)(&bitOffset), (nint)(&consensus), (nint)(&normalize), (nint)(&lambda), (nint)(&divisor), (nint)(&count),
                ]);
                SyncIfTracing();
            }
            using var download = Trace.Span("download", "download", $"{output.ByteLength} bytes");
            Staging.Download(output.Pointer, result, 0, output.ByteLength);
        }
    }

    private uint Grid(long n) => (uint)Math.Clamp((n + ElementwiseBlock - 1) / ElementwiseBlock, 1, Context.Multiprocessors * 16L);

    /// <summary>Stages the inputs (then the base) into one device buffer at 16-byte-aligned offsets, and adds their
    /// byte offsets (i64) and dtype codes (i32) to <paramref name="table"/>.</summary>
    private (ulong Address, long Offsets, long DTypes) UploadPacked(ReadOnlySpan<RawTensor> inputs, RawTensor? @base, DeviceTable table)
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
        var packed = _a.Ensure(total);
        using (Trace.Span("upload", "upload", $"{total} bytes"))
        {
            for (int i = 0; i < all.Count; i++) Staging.Upload(packed, offsets[i], all[i].Pointer, all[i].ByteLength);
        }
        return (packed.Address, table.Add<long>(offsets), table.Add<int>(all.Select(x => DTypeCode(x.DType)).ToArray()));
    }

    private ulong UploadTable(DeviceTable table)
    {
        var bytes = table.ToArray();
        var device = _table.Ensure(bytes.Length);
        fixed (byte* p = bytes) Staging.Upload(device, 0, p, bytes.Length);
        return device.Address;
    }

    /// <summary>Small arrays for one launch, each at an 8-byte-aligned offset of one upload.</summary>
    private sealed class DeviceTable
    {
        private readonly List<byte> _bytes = new();

        /// <summary>Appends <paramref name="values"/>; returns their byte offset.</summary>
        public long Add<T>(ReadOnlySpan<T> values) where T : unmanaged
        {
            while (_bytes.Count % 8 != 0) _bytes.Add(0);
            long offset = _bytes.Count;
            _bytes.AddRange(MemoryMarshal.AsBytes(values));
            return offset;
        }

        public byte[] ToArray() => _bytes.Count == 0 ? new byte[8] : _bytes.ToArray();
    }
}
