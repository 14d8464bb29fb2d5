using Engine.Core;
using Engine.Core.Numerics;
using ILGPU.Runtime;

namespace Engine.Kernels.Ilgpu;

/// <summary>Arcee Fusion's importance kept on the accelerator between its three steps (<see cref="IImportance"/>).</summary>
public sealed unsafe partial class IlgpuMergeKernels
{
    private bool _importanceOpen;

    /// <inheritdoc/>
    public IImportance ComputeImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision)
    {
        if (!ImportanceRunsOnAccelerator(importance, rowKl, other, @base, rowLength))
            return HostImportance.Compute(this, importance, rowKl, other, @base, rowLength, precision);
        // Held until the importance is disposed, as every call binds the accelerator to its thread.
        Gate.Enter();
        try
        {
            if (_importanceOpen) throw new InvalidOperationException("ilgpu: an importance is already open on this backend; dispose it first");
            _accelerator.Bind();
            var buffers = ImportanceOnAccelerator(rowKl, other, @base, rowLength, precision);
            _importanceOpen = true;
            return new KeptOnAccelerator(this, importance, other, @base, buffers);
        }
        catch
        {
            Gate.Exit();
            throw;
        }
    }

    /// <summary>The importance and both inputs on the accelerator; the backend's lock is held until disposal.</summary>
    private sealed class KeptOnAccelerator(IlgpuMergeKernels owner, NativeArray<float> host, RawTensor other, RawTensor @base,
        AcceleratorImportance buffers) : DeviceImportance(host, other, @base, owner.Cpu, owner.Gate)
    {
        protected override void SelectRanksOnDevice(Span<float> results, ReadOnlySpan<long> ranks)
        {
            owner._accelerator.Bind();
            owner.SelectRanksOnAccelerator(results, buffers.Importance.View, ranks);
        }

        protected override long MaskedSelectOnDevice(RawTensor output, long start, float threshold)
        {
            owner._accelerator.Bind();
            long n = output.Length;
            int xs = Other.DType.SizeOf(), ys = Base.DType.SizeOf();
            return owner.MaskedSelectOnAccelerator(output, buffers.Other.View.SubView(start * xs, n * xs), buffers.Base.View.SubView(start * ys, n * ys),
                buffers.Importance.View.SubView(start, n), Other.DType, Base.DType, threshold);
        }

        protected override bool HasDeviceKernel(DType dtype) => DeviceDTypes.HasKernel(dtype);

        protected override void Download(NativeArray<float> destination)
        {
            owner._accelerator.Bind();
            owner._staging.Download(destination.Pointer, buffers.Importance.View);
        }

        protected override void Release()
        {
            try
            {
                owner._accelerator.Bind();
                buffers.Dispose();
            }
            finally
            {
                owner._importanceOpen = false;
                owner.Gate.Exit();
            }
        }
    }
}
