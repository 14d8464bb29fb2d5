using Engine.Core;
using Engine.Core.Diagnostics;
using Engine.Core.Numerics;
using Engine.Interop.Cuda;
using Engine.Kernels.Cpu;
using Engine.Kernels.Device;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Engine.Kernels.Ilgpu;

/// <summary>The merge kernels of <see cref="IlgpuKernels"/> on an ILGPU accelerator: an NVIDIA GPU (ILGPU
/// compiles the C# to PTX at run time) or ILGPU's CPU accelerator (a simulator, about 300x slower than plain
/// C#: for tests and CI parity only). Same results as the CPU reference as <see cref="KernelTolerances"/>
/// defines. Large transfers go through page-locked double buffers (<see cref="AcceleratorStaging"/>).
/// Dtypes other than F32/BF16/F16 run on the CPU backend.
/// Calls from several threads are serialised, each binding the accelerator to the calling thread.</summary>
public sealed unsafe partial class IlgpuMergeKernels : DeviceElementwiseDriver, IMergeKernels, ITraceableKernels
{
    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly AcceleratorStaging _staging;
    private readonly int _group;
    private readonly Action<KernelConfig, ArrayView<float>, ArrayView<double>, ArrayView<ulong>, ArrayView<byte>, ArrayView<byte>, int, int, long, int> _rowImportance, _rowImportanceBf16;
    private readonly Action<KernelConfig, ArrayView<ulong>, ArrayView<float>, long, int, int, int, int, uint, uint, uint, uint> _histogram;
    private readonly Action<KernelConfig, ArrayView<byte>, ArrayView<ulong>, ArrayView<byte>, ArrayView<byte>, ArrayView<float>, long, float, int, int, int> _maskedSelect;

    private IlgpuMergeKernels(Context context, Accelerator accelerator, int threads, string device, long stagingChunk) : base(threads)
    {
        _context = context;
        _accelerator = accelerator;
        _staging = new AcceleratorStaging(accelerator, Cpu.Threads, stagingChunk);
        Device = device;
        int group = 1;
        while (group * 2 <= Math.Min(IlgpuKernels.MaxGroup, accelerator.MaxNumThreadsPerGroup)) group *= 2;
        _group = group;
        _rowImportance = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<double>, ArrayView<ulong>, ArrayView<byte>, ArrayView<byte>, int, int, long, int>(IlgpuKernels.RowImportance);
        _rowImportanceBf16 = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<double>, ArrayView<ulong>, ArrayView<byte>, ArrayView<byte>, int, int, long, int>(IlgpuKernels.RowImportanceBf16);
        _histogram = accelerator.LoadStreamKernel<ArrayView<ulong>, ArrayView<float>, long, int, int, int, int, uint, uint, uint, uint>(IlgpuKernels.RadixHistogram);
        foreach (var method in ElementwiseKernelMethods) _elementwiseKernels[method.Name] = accelerator.LoadKernel(method);
        _maskedSelect = accelerator.LoadStreamKernel<ArrayView<byte>, ArrayView<ulong>, ArrayView<byte>, ArrayView<byte>, ArrayView<float>, long, float, int, int, int>(IlgpuKernels.MaskedSelect);
    }

    /// <summary>Staging chunk on the simulator: small, so that the parity tests' inputs take the multi-chunk path.</summary>
    private const long SimulatorStagingChunk = 1024;

    /// <summary>ILGPU's CPU accelerator (simulated GPU threads): tests and CI.</summary>
    public static IlgpuMergeKernels CreateCpuAccelerator(int threads = 0)
    {
        var context = Context.Create(b => b.CPU().Optimize(OptimizationLevel.O1));
        try
        {
            var accelerator = context.CreateCPUAccelerator(0);
            return new IlgpuMergeKernels(context, accelerator, threads, $"ilgpu-cpu (ILGPU {typeof(Context).Assembly.GetName().Version} CPU accelerator, simulated; {accelerator.MaxNumThreadsPerGroup} threads/group)", SimulatorStagingChunk);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>GPU <paramref name="ordinal"/> through ILGPU's CUDA backend.</summary>
    /// <exception cref="EngineException">no CUDA driver or GPU here.</exception>
    public static IlgpuMergeKernels CreateCuda(int ordinal, int threads = 0)
    {
        var availability = CudaLibrary.Availability;
        if (!availability.IsAvailable) throw new EngineException($"--device ilgpu needs an NVIDIA GPU: {availability.Reason}");
        var context = Context.Create(b => b.Cuda().Optimize(OptimizationLevel.O2));
        try
        {
            var accelerator = context.CreateCudaAccelerator(ordinal);
            return new IlgpuMergeKernels(context, accelerator, threads, $"ilgpu:{ordinal} ({accelerator.Name}, ILGPU {typeof(Context).Assembly.GetName().Version} PTX)", AcceleratorStaging.DefaultChunk);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    /// <summary>The PTX ILGPU generates for each kernel, for sm_80 / PTX ISA 7.5, on any machine (no GPU needed).</summary>
    public static IReadOnlyDictionary<string, string> GeneratePtx()
    {
        using var context = Context.Create(b => b.Optimize(OptimizationLevel.O2));
        using var backend = new PTXBackend(context, CudaArchitecture.SM_80, CudaInstructionSet.ISA_75, null!);  // no libNVVM: plain PTX
        var result = new Dictionary<string, string>();
        var kernels = new[] { nameof(IlgpuKernels.RowImportance), nameof(IlgpuKernels.RowImportanceBf16), nameof(IlgpuKernels.RadixHistogram), nameof(IlgpuKernels.MaskedSelect) }.Select(n => typeof(IlgpuKernels).GetMethod(n)!)
            .Concat(ElementwiseKernelMethods);
        foreach (var method in kernels)
        {
            string name = method.Name;
            var entry = EntryPointDescription.FromExplicitlyGroupedKernel(method);
            var compiled = (PTXCompiledKernel)backend.Compile(entry, default);
            result[name] = compiled.PTXAssembly;
        }
        return result;
    }

    /// <inheritdoc/>
    public string Device { get; }

    /// <summary>When set, uploads and downloads (in the staging) and kernels are recorded as separate spans; a
    /// kernel span ends once the stream has drained, so it holds the kernel's own time.</summary>
    public ProfileTrace? Trace
    {
        get => _staging.Trace;
        set => _staging.Trace = value;
    }

    private KernelSpan Kernel(string name) => new(this, Trace.Span(name + " (device)", "kernel"));

    /// <summary>Synchronises the default stream before ending its span, only while a trace is taken (untraced
    /// launches stay asynchronous).</summary>
    private readonly struct KernelSpan(IlgpuMergeKernels owner, ProfileTrace.Span span) : IDisposable
    {
        public void Dispose()
        {
            if (owner.Trace != null) owner._accelerator.DefaultStream.Synchronize();
            span.Dispose();
        }
    }

    /// <inheritdoc/>
    public void RowImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision)
    {
        lock (Gate)
        {
            _accelerator.Bind();
            RowImportanceLocked(importance, rowKl, other, @base, rowLength, precision);
        }
    }

    private void RowImportanceLocked(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision)
    {
        if (!ImportanceRunsOnAccelerator(importance, rowKl, other, @base, rowLength))
        {
            Cpu.RowImportance(importance, rowKl, other, @base, rowLength, precision);
            return;
        }
        using var buffers = ImportanceOnAccelerator(rowKl, other, @base, rowLength, precision);
        _staging.Download(importance.Pointer, buffers.Importance.View);
    }

    /// <summary>Checks the shapes; false where the CPU backend computes instead (dtypes without
    /// kernels, no rows).</summary>
    private static bool ImportanceRunsOnAccelerator(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength)
    {
        long rows = rowKl.Length;
        ImportanceShapes.Check(importance, rowKl, other, @base, rowLength);
        if (!DeviceDTypes.HasKernel(other.DType) || !DeviceDTypes.HasKernel(@base.DType) || rows == 0) return false;
        if (rows > int.MaxValue) throw new EngineException($"ilgpu: {rows} rows exceed one launch; use --device cuda or cpu");
        return true;
    }

    /// <summary>Uploads both inputs, runs the row kernel, downloads the per-row KL and throws on a non-finite
    /// input; the inputs and the importance stay on the accelerator in the returned buffers.</summary>
    private AcceleratorImportance ImportanceOnAccelerator(Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision)
    {
        long rows = rowKl.Length;
        var stream = _accelerator.DefaultStream;
        MemoryBuffer1D<byte, Stride1D.Dense>? x = null, y = null;
        MemoryBuffer1D<float, Stride1D.Dense>? imp = null;
        try
        {
            x = Upload(other.Pointer, other.ByteLength);
            y = Upload(@base.Pointer, @base.ByteLength);
            imp = _accelerator.Allocate1D<float>(other.Length);
            var buffers = new AcceleratorImportance(x, y, imp);
            using var kl = _accelerator.Allocate1D<double>(rows);
            using var bad = _accelerator.Allocate1D<ulong>(2);
            bad.View.MemSet(stream, 0xFF);
            LaunchRowImportance(buffers.Importance.View, kl.View, bad.View, buffers.Other.View, buffers.Base.View, other.DType, @base.DType, rows, rowLength, precision);
            var found = new ulong[2];
            bad.View.CopyToCPU(stream, ref found[0], 2);
            stream.Synchronize();
            NonFiniteInputs.ThrowIfAnyInRows(found[0], found[1], rowLength);
            kl.View.CopyToCPU(stream, ref rowKl[0], rows);
            stream.Synchronize();
            return buffers;
        }
        catch
        {
            x?.Dispose();
            y?.Dispose();
            imp?.Dispose();
            throw;
        }
    }

    /// <summary>Float32: one group per row, a power of two up to the row length. BFloat16 (mergekit's rounding): one
    /// thread per row. Queued on the default stream.</summary>
    internal void LaunchRowImportance(ArrayView<float> importance, ArrayView<double> rowKl, ArrayView<ulong> bad, ArrayView<byte> other, ArrayView<byte> @base,
        DType otherDType, DType baseDType, long rows, int rowLength, ComputePrecision precision = ComputePrecision.Float32)
    {
        if (precision == ComputePrecision.BFloat16)
        {
            long groups = Math.Clamp((rows + _group - 1) / _group, 1, Math.Max(1, _accelerator.NumMultiprocessors) * 16L);
            using var bf16 = Kernel("row_importance (bf16 emulation)");
            _rowImportanceBf16(new KernelConfig((int)groups, _group), importance, rowKl, bad, other, @base, DeviceDTypes.Code(otherDType), DeviceDTypes.Code(baseDType), rows, rowLength);
            return;
        }
        int group = 1;
        while (group < _group && group < rowLength) group *= 2;
        using var span = Kernel("row_importance");
        _rowImportance(new KernelConfig((int)rows, group), importance, rowKl, bad, other, @base, DeviceDTypes.Code(otherDType), DeviceDTypes.Code(baseDType), rows, rowLength);
    }

    /// <summary>The selection of n elements into <paramref name="output"/> (stored bytes); queued on the default stream.</summary>
    internal void LaunchMaskedSelect(ArrayView<byte> output, ArrayView<ulong> taken, ArrayView<byte> other, ArrayView<byte> @base, ArrayView<float> importance,
        long n, float threshold, DType outputDType, DType otherDType, DType baseDType)
    {
        long groups = Math.Clamp((n + _group - 1) / _group, 1, Math.Max(1, _accelerator.NumMultiprocessors) * 16L);
        using var span = Kernel("masked_select");
        _maskedSelect(new KernelConfig((int)groups, _group), output, taken, other, @base, importance, n, threshold,
            DeviceDTypes.Code(outputDType), DeviceDTypes.Code(otherDType), DeviceDTypes.Code(baseDType));
    }

    internal Accelerator Accelerator => _accelerator;

    internal AcceleratorStaging Staging => _staging;

    /// <summary>One tensor pair's inputs (stored bytes) and importance on the accelerator.</summary>
    private sealed record AcceleratorImportance(MemoryBuffer1D<byte, Stride1D.Dense> Other, MemoryBuffer1D<byte, Stride1D.Dense> Base,
        MemoryBuffer1D<float, Stride1D.Dense> Importance) : IDisposable
    {
        public void Dispose()
        {
            Other.Dispose();
            Base.Dispose();
            Importance.Dispose();
        }
    }

    /// <inheritdoc/>
    public void SelectRanks(Span<float> results, NativeArray<float> values, ReadOnlySpan<long> ranks)
    {
        lock (Gate)
        {
            _accelerator.Bind();
            SelectRanksLocked(results, values, ranks);
        }
    }

    private void SelectRanksLocked(Span<float> results, NativeArray<float> values, ReadOnlySpan<long> ranks)
    {
        RadixSelect.CheckRanks(results, ranks, values.Length);
        if (ranks.IsEmpty) return;
        using var device = _accelerator.Allocate1D<float>(values.Length);
        _staging.Upload(device.View, values.Pointer);
        _staging.Flush();
        SelectRanksOnAccelerator(results, device.View, ranks);
    }

    /// <summary>Exact ranks of values on the accelerator: the passes of <see cref="DeviceRadixSelect"/>, each an
    /// <see cref="IlgpuKernels.RadixHistogram"/> launch.</summary>
    internal void SelectRanksOnAccelerator(Span<float> results, ArrayView<float> values, ReadOnlySpan<long> ranks)
    {
        using var span = Kernel("select_ranks");
        var stream = _accelerator.DefaultStream;
        using var hist = _accelerator.Allocate1D<ulong>(DeviceRadixSelect.MaxPrefixes * DeviceRadixSelect.Bins);
        long groups = Math.Clamp((values.Length + _group - 1) / _group, 1, Math.Max(1, _accelerator.NumMultiprocessors) * 4L);
        DeviceRadixSelect.Select(results, ranks, (histogram, shift, bits, prefixShift, group, prefixCount) =>
        {
            hist.View.MemSetToZero(stream);
            uint P(int i) => i < group.Length ? group[i] : 0u;
            _histogram(new KernelConfig((int)groups, _group), hist.View, values, values.Length, shift, bits, prefixShift, prefixCount, P(0), P(1), P(2), P(3));
            hist.View.CopyToCPU(stream, ref histogram[0], histogram.Length);
            stream.Synchronize();
        });
    }

    /// <inheritdoc/>
    public long MaskedSelect(RawTensor output, RawTensor other, RawTensor @base, NativeArray<float> importance, long start, float threshold)
    {
        lock (Gate)
        {
            _accelerator.Bind();
            return MaskedSelectLocked(output, other, @base, importance, start, threshold);
        }
    }

    private long MaskedSelectLocked(RawTensor output, RawTensor other, RawTensor @base, NativeArray<float> importance, long start, float threshold)
    {
        long n = output.Length;
        ImportanceShapes.CheckMaskedSelect(output, other, @base, importance, start);
        if (n == 0 || !DeviceDTypes.HaveKernels([output, other], @base))
            return Cpu.MaskedSelect(output, other, @base, importance, start, threshold);
        using var x = Upload(other.Pointer, other.ByteLength);
        using var y = Upload(@base.Pointer, @base.ByteLength);
        using var imp = _accelerator.Allocate1D<float>(n);
        _staging.Upload(imp.View, importance.Pointer + start);
        _staging.Flush();
        return MaskedSelectOnAccelerator(output, x.View, y.View, imp.View, other.DType, @base.DType, threshold);
    }

    /// <summary>The selection over inputs (stored bytes) and importance already on the accelerator, element 0 on;
    /// the result is downloaded into <paramref name="output"/>.</summary>
    private long MaskedSelectOnAccelerator(RawTensor output, ArrayView<byte> other, ArrayView<byte> @base, ArrayView<float> importance,
        DType otherDType, DType baseDType, float threshold)
    {
        long n = output.Length;
        var stream = _accelerator.DefaultStream;
        using var result = _accelerator.Allocate1D<byte>(output.ByteLength);
        using var taken = _accelerator.Allocate1D<ulong>(1);
        taken.View.MemSetToZero(stream);
        LaunchMaskedSelect(result.View, taken.View, other, @base, importance, n, threshold, output.DType, otherDType, baseDType);
        _staging.Download(output.Pointer, result.View);
        ulong count = 0;
        taken.View.CopyToCPU(stream, ref count, 1);
        stream.Synchronize();
        return (long)count;
    }

    private MemoryBuffer1D<byte, Stride1D.Dense> Upload(byte* source, long bytes)
    {
        var buffer = _accelerator.Allocate1D<byte>(Math.Max(4, (bytes + 3) & ~3L));
        try
        {
            _staging.Upload(buffer.View.SubView(0, bytes), source);
            _staging.Flush();
            return buffer;
        }
        catch
        {
            _staging.Flush();
            buffer.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _staging.Dispose();
        _accelerator.Dispose();
        _context.Dispose();
        Cpu.Dispose();
    }
}
