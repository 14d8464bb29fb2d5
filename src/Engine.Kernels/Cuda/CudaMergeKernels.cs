using Engine.Core;
using Engine.Core.Diagnostics;
using Engine.Core.Numerics;
using Engine.Interop.Cuda;
using Engine.Kernels.Cpu;
using Engine.Kernels.Device;

namespace Engine.Kernels.Cuda;

/// <summary>The merge kernels as hand-written CUDA C (<c>kernels/cuda/*.cu</c>), compiled to PTX by the build
/// and launched through <see cref="Engine.Interop.Cuda"/>. Inputs are staged through page-locked double
/// buffers to device memory kept between calls; results equal the CPU reference bit for bit for selection,
/// quantiles and conversion, and within float32 rounding of KL for the importance
/// (see <see cref="KernelTolerances"/>); the merge methods' primitives run through <see cref="DeviceElementwiseDriver"/>, launched
/// by CudaMergeKernels.Launch.cs.
/// Dtypes other than F32/BF16/F16 run on the CPU backend. Calls from several threads are serialised (the
/// device buffers and the stream are shared).</summary>
public sealed unsafe partial class CudaMergeKernels : DeviceElementwiseDriver, IMergeKernels, ITraceableKernels
{
    private const int RadixBins = DeviceRadixSelect.Bins;
    private const int MaxPrefixes = DeviceRadixSelect.MaxPrefixes;

    /// <summary>CACHED_ROW_LENGTH of row_importance.cu: rows up to this length are kept in shared memory.</summary>
    internal const int CachedRowLength = 6080;

    private readonly CudaModule[] _modules;
    private readonly DeviceSlot _a, _b, _importance, _output, _rowKl, _scratch;

    /// <summary>The CUDA backend on GPU <paramref name="ordinal"/>, with <paramref name="threads"/> CPU threads for the host-side work.</summary>
    /// <exception cref="Engine.Interop.Cuda.CudaException">No CUDA driver, no GPU of that ordinal, or a driver call (context, PTX load) failed; the message names the call.</exception>
    public CudaMergeKernels(int ordinal = 0, int threads = 0) : base(threads)
    {
        Context = CudaContext.Create(ordinal);
        try
        {
            _modules = PtxImages.Names.Select(n => Context.LoadModule(PtxImages.Read(n))).ToArray();
            RowImportanceKernel = _modules[0].GetKernel("row_importance_kernel");
            HistogramKernel = _modules[1].GetKernel("radix_histogram_kernel");
            MaskedSelectKernel = _modules[2].GetKernel("masked_select_kernel");
            LoadElementwiseKernels(_modules[3]);
            RowImportanceBf16Kernel = _modules[4].GetKernel("row_importance_bf16_kernel");
            Stream = Context.CreateStream();
            Staging = new DeviceStaging(Context, Stream, Cpu.Threads);
            (_a, _b, _importance, _output, _rowKl, _scratch) = (new(Context), new(Context), new(Context), new(Context), new(Context), new(Context));
        }
        catch
        {
            Context.Dispose();
            throw;
        }
    }

    internal CudaContext Context { get; }
    internal CudaStream Stream { get; }
    internal DeviceStaging Staging { get; }
    internal CudaKernel RowImportanceKernel { get; }
    internal CudaKernel RowImportanceBf16Kernel { get; }
    internal CudaKernel HistogramKernel { get; }
    internal CudaKernel MaskedSelectKernel { get; }

    /// <inheritdoc/>
    public string Device => $"cuda:{Context.Ordinal} ({Context.Name}, sm_{Context.ComputeCapability.Major}{Context.ComputeCapability.Minor}, {Context.TotalMemory / (1L << 30)} GiB; hand-written PTX)";

    /// <summary>When set, uploads, kernels (stream-synchronised so the span is the kernel's own time) and
    /// downloads are recorded as separate spans.</summary>
    public ProfileTrace? Trace { get; set; }

    /// <summary>Ends a kernel span after the stream has drained, only when a trace is being taken.</summary>
    private void SyncIfTracing()
    {
        if (Trace != null) Stream.Synchronize();
    }

    /// <inheritdoc/>
    public void RowImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision)
    {
        lock (Gate) RowImportanceLocked(importance, rowKl, other, @base, rowLength, precision);
    }

    private void RowImportanceLocked(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision)
    {
        if (!ImportanceRunsOnDevice(importance, rowKl, other, @base, rowLength))
        {
            Cpu.RowImportance(importance, rowKl, other, @base, rowLength, precision);
            return;
        }
        var imp = ImportanceOnDevice(rowKl, other, @base, rowLength, precision).Importance;
        using var download = Trace.Span("download", "download", $"{importance.ByteLength} bytes");
        Staging.Download((byte*)importance.Pointer, imp, 0, importance.ByteLength);
    }

    /// <summary>Checks the shapes; false where the CPU backend computes instead (dtypes without device kernels,
    /// no rows).</summary>
    private static bool ImportanceRunsOnDevice(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength)
    {
        long rows = rowKl.Length;
        ImportanceShapes.Check(importance, rowKl, other, @base, rowLength);
        return DeviceDTypes.HasKernel(other.DType) && DeviceDTypes.HasKernel(@base.DType) && rows > 0;
    }

    /// <summary>Uploads both inputs into the <c>_a</c> and <c>_b</c> slots, runs the row kernel into <c>_importance</c>,
    /// downloads the per-row KL and throws on a non-finite input. Returns the three device buffers.</summary>
    private (CudaDeviceBuffer Other, CudaDeviceBuffer Base, CudaDeviceBuffer Importance) ImportanceOnDevice(Span<double> rowKl,
        RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision)
    {
        long rows = rowKl.Length;
        Context.MakeCurrent();
        var x = _a.Ensure(other.ByteLength);
        var y = _b.Ensure(@base.ByteLength);
        var imp = _importance.Ensure(other.Length * sizeof(float));
        var kl = _rowKl.Ensure(rows * sizeof(double));
        var bad = _scratch.Ensure(2 * sizeof(ulong));
        using (Trace.Span("upload", "upload", $"{other.ByteLength + @base.ByteLength} bytes"))
        {
            Staging.Upload(x, 0, other.Pointer, other.ByteLength);
            Staging.Upload(y, 0, @base.Pointer, @base.ByteLength);
        }
        using (Trace.Span("row_importance (device)", "kernel"))
        {
            Stream.Fill(bad, 0xFF, 2 * sizeof(ulong));
            LaunchRowImportance(imp, kl, bad, x, y, other.DType, @base.DType, rows, rowLength, precision);
            SyncIfTracing();
        }
        using var download = Trace.Span("download", "download", $"{rows * sizeof(double)} bytes");
        var found = stackalloc ulong[2];
        Staging.DownloadSmall(found, bad, 2 * sizeof(ulong));
        NonFiniteInputs.ThrowIfAnyInRows(found[0], found[1], rowLength);
        fixed (double* k = rowKl) Staging.Download((byte*)k, kl, 0, rows * sizeof(double));
        return (x, y, imp);
    }

    /// <summary>Float32: one block per row (rows beyond 2^31 - 1 fold into grid y); a power-of-two block of 32..256
    /// threads; the row's float32 copy in dynamic shared memory when it fits. BFloat16 (mergekit's rounding): one
    /// thread per row, grid-stride.</summary>
    internal void LaunchRowImportance(CudaDeviceBuffer importance, CudaDeviceBuffer rowKl, CudaDeviceBuffer bad, CudaDeviceBuffer other, CudaDeviceBuffer @base,
        DType otherDType, DType baseDType, long rows, int rowLength, ComputePrecision precision = ComputePrecision.Float32)
    {
        if (precision == ComputePrecision.BFloat16)
        {
            const uint threads = 128;
            uint blocks = (uint)Math.Clamp((rows + threads - 1) / threads, 1, Context.Multiprocessors * 32L);
            ulong qi = importance.Address, qk = rowKl.Address, qb = bad.Address, qx = other.Address, qy = @base.Address;
            int ex = DeviceDTypes.Code(otherDType), ey = DeviceDTypes.Code(baseDType);
            long count = rows;
            int length = rowLength;
            RowImportanceBf16Kernel.Launch(Stream, blocks, threads, 0, [(nint)(&qi), (nint)(&qk), (nint)(&qb), (nint)(&qx), (nint)(&qy), (nint)(&ex), (nint)(&ey), (nint)(&count), (nint)(&length)]);
            return;
        }
        uint block = 32;
        while (block < 256 && block < rowLength) block <<= 1;
        uint gridX = (uint)Math.Min(rows, int.MaxValue), gridY = (uint)((rows + gridX - 1) / gridX);
        ulong pi = importance.Address, pk = rowKl.Address, pb = bad.Address, px = other.Address, py = @base.Address;
        int dx = DeviceDTypes.Code(otherDType), dy = DeviceDTypes.Code(baseDType);
        long r = rows;
        int n = rowLength;
        uint cache = rowLength <= CachedRowLength ? (uint)(2 * rowLength * sizeof(float)) : 0;
        RowImportanceKernel.Launch(Stream, gridX, block, cache, [(nint)(&pi), (nint)(&pk), (nint)(&pb), (nint)(&px), (nint)(&py), (nint)(&dx), (nint)(&dy), (nint)(&r), (nint)(&n)], gridY);
    }

    /// <inheritdoc/>
    public void SelectRanks(Span<float> results, NativeArray<float> values, ReadOnlySpan<long> ranks)
    {
        lock (Gate) SelectRanksLocked(results, values, ranks);
    }

    private void SelectRanksLocked(Span<float> results, NativeArray<float> values, ReadOnlySpan<long> ranks)
    {
        RadixSelect.CheckRanks(results, ranks, values.Length);
        if (ranks.IsEmpty) return;
        Context.MakeCurrent();
        var device = _importance.Ensure(values.ByteLength);
        using (Trace.Span("upload", "upload", $"{values.ByteLength} bytes"))
            Staging.Upload(device, 0, (byte*)values.Pointer, values.ByteLength);
        using (Trace.Span("select_ranks (device)", "kernel"))
            SelectRanksOnDevice(results, device, values.Length, ranks);
    }

    /// <summary>Exact ranks of values already on the device: the passes of <see cref="DeviceRadixSelect"/>, each a
    /// radix_select.cu launch.</summary>
    internal void SelectRanksOnDevice(Span<float> results, CudaDeviceBuffer values, long count, ReadOnlySpan<long> ranks)
    {
        var hist = _scratch.Ensure(MaxPrefixes * RadixBins * sizeof(ulong) + 64);
        var prefixes = _output.Ensure(MaxPrefixes * sizeof(uint));
        DeviceRadixSelect.Select(results, ranks, (histogram, shift, bits, prefixShift, group, prefixCount) =>
            HistogramPass(histogram, hist, prefixes, values, count, shift, bits, prefixShift, group, prefixCount));
    }

    private void HistogramPass(ulong[] histogram, CudaDeviceBuffer hist, CudaDeviceBuffer prefixes, CudaDeviceBuffer values, long count,
        int shift, int bits, int prefixShift, uint[] group, int prefixCount)
    {
        int groups = Math.Max(1, prefixCount);
        long histBytes = groups * RadixBins * sizeof(ulong);
        Stream.Fill(hist, 0, histBytes);
        if (prefixCount > 0)
        {
            fixed (uint* p = group) Staging.Upload(prefixes, 0, (byte*)p, group.Length * sizeof(uint));
        }
        LaunchHistogram(hist, values, prefixes, count, shift, bits, prefixShift, prefixCount);
        fixed (ulong* h = histogram) Staging.DownloadSmall(h, hist, histBytes);
    }

    internal void LaunchHistogram(CudaDeviceBuffer hist, CudaDeviceBuffer values, CudaDeviceBuffer prefixes, long count, int shift, int bits, int prefixShift, int prefixCount)
    {
        const uint block = 512;
        long wanted = (count / 4 + (count & 3) + block - 1) / block;
        uint grid = (uint)Math.Clamp(wanted, 1, Context.Multiprocessors * 4L);
        ulong ph = hist.Address, pv = values.Address, pp = prefixes.Address;
        long n = count;
        int s = shift, b = bits, ps = prefixShift, pc = prefixCount;
        HistogramKernel.Launch(Stream, grid, block, 0, [(nint)(&ph), (nint)(&pv), (nint)(&pp), (nint)(&n), (nint)(&s), (nint)(&b), (nint)(&ps), (nint)(&pc)]);
    }

    /// <inheritdoc/>
    public long MaskedSelect(RawTensor output, RawTensor other, RawTensor @base, NativeArray<float> importance, long start, float threshold)
    {
        lock (Gate) return MaskedSelectLocked(output, other, @base, importance, start, threshold);
    }

    private long MaskedSelectLocked(RawTensor output, RawTensor other, RawTensor @base, NativeArray<float> importance, long start, float threshold)
    {
        long n = output.Length;
        ImportanceShapes.CheckMaskedSelect(output, other, @base, importance, start);
        if (n == 0 || !DeviceDTypes.HaveKernels([output, other], @base))
            return Cpu.MaskedSelect(output, other, @base, importance, start, threshold);
        Context.MakeCurrent();
        var x = _a.Ensure(other.ByteLength);
        var y = _b.Ensure(@base.ByteLength);
        var imp = _importance.Ensure(n * sizeof(float));
        var outBuffer = _output.Ensure(output.ByteLength);
        var taken = _scratch.Ensure(sizeof(ulong));
        using (Trace.Span("upload", "upload", $"{other.ByteLength + @base.ByteLength + n * sizeof(float)} bytes"))
        {
            Staging.Upload(x, 0, other.Pointer, other.ByteLength);
            Staging.Upload(y, 0, @base.Pointer, @base.ByteLength);
            Staging.Upload(imp, 0, (byte*)(importance.Pointer + start), n * sizeof(float));
        }
        using (Trace.Span("masked_select (device)", "kernel"))
        {
            Stream.Fill(taken, 0, sizeof(ulong));
            LaunchMaskedSelect(outBuffer, taken, x, y, imp, n, threshold, output.DType, other.DType, @base.DType);
            SyncIfTracing();
        }
        using var download = Trace.Span("download", "download", $"{output.ByteLength} bytes");
        Staging.Download(output.Pointer, outBuffer, 0, output.ByteLength);
        ulong count;
        Staging.DownloadSmall(&count, taken, sizeof(ulong));
        return (long)count;
    }

    /// <summary>The selection of elements [<paramref name="start"/>, <paramref name="start"/> + n) of other, base and
    /// importance into output (element 0 on).</summary>
    internal void LaunchMaskedSelect(CudaDeviceBuffer output, CudaDeviceBuffer taken, CudaDeviceBuffer other, CudaDeviceBuffer @base, CudaDeviceBuffer importance,
        long n, float threshold, DType outputDType, DType otherDType, DType baseDType, long start = 0)
    {
        const uint block = 256;
        uint grid = (uint)Math.Clamp((n + block - 1) / block, 1, Context.Multiprocessors * 16L);
        ulong po = output.Address, pt = taken.Address;
        ulong px = other.Address + (ulong)(start * otherDType.SizeOf()), py = @base.Address + (ulong)(start * baseDType.SizeOf());
        ulong pi = importance.Address + (ulong)(start * sizeof(float));
        long count = n;
        float t = threshold;
        int d0 = DeviceDTypes.Code(outputDType), d1 = DeviceDTypes.Code(otherDType), d2 = DeviceDTypes.Code(baseDType);
        MaskedSelectKernel.Launch(Stream, grid, block, 0, [(nint)(&po), (nint)(&pt), (nint)(&px), (nint)(&py), (nint)(&pi), (nint)(&count), (nint)(&t), (nint)(&d0), (nint)(&d1), (nint)(&d2)]);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (Gate) DisposeLocked();
    }

    private void DisposeLocked()
    {
        Context.MakeCurrent();
        foreach (var slot in new[] { _a, _b, _importance, _output, _rowKl, _scratch, _table }) slot?.Dispose();
        Staging?.Dispose();
        Stream?.Dispose();
        foreach (var m in _modules ?? []) m.Dispose();
        Context.Dispose();
        Cpu.Dispose();
    }
}
