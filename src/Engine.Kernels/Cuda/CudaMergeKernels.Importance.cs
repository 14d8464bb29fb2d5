using Engine.Core;
using Engine.Core.Diagnostics;
using Engine.Core.Numerics;
using Engine.Interop.Cuda;

namespace Engine.Kernels.Cuda;

/// <summary>Arcee Fusion's importance kept on the GPU between its three steps (<see cref="IImportance"/>).</summary>
public sealed unsafe partial class CudaMergeKernels
{
    /// <inheritdoc/>
    public IImportance ComputeImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision)
    {
        if (!ImportanceRunsOnDevice(importance, rowKl, other, @base, rowLength))
            return HostImportance.Compute(this, importance, rowKl, other, @base, rowLength, precision);
        // Held until the importance is disposed: its device buffers are this backend's.
        Gate.Enter();
        try
        {
            if (_importance.Held) throw new InvalidOperationException("cuda: an importance is already open on this backend; dispose it first");
            // Kept in the slots the one-call kernels use (no second set of tensor-sized buffers); they are held,
            // so a one-call kernel that would reuse them meanwhile fails instead of overwriting them.
            var device = ImportanceOnDevice(rowKl, other, @base, rowLength, precision);
            _a.Held = _b.Held = _importance.Held = true;
            return new KeptOnDevice(this, importance, other, @base, device);
        }
        catch
        {
            Gate.Exit();
            throw;
        }
    }

    /// <summary>The importance and both inputs on the device; the CUDA backend's lock is held until disposal.</summary>
    private sealed class KeptOnDevice(CudaMergeKernels owner, NativeArray<float> host, RawTensor other, RawTensor @base,
        (CudaDeviceBuffer Other, CudaDeviceBuffer Base, CudaDeviceBuffer Importance) device) : DeviceImportance(host, other, @base, owner.Cpu, owner.Gate)
    {
        protected override void SelectRanksOnDevice(Span<float> results, ReadOnlySpan<long> ranks)
        {
            owner.Context.MakeCurrent();
            using (owner.Trace.Span("select_ranks (device)", "kernel"))
                owner.SelectRanksOnDevice(results, device.Importance, Length, ranks);
        }

        protected override long MaskedSelectOnDevice(RawTensor output, long start, float threshold)
        {
            owner.Context.MakeCurrent();
            var result = owner._output.Ensure(output.ByteLength);
            var taken = owner._scratch.Ensure(sizeof(ulong));
            using (owner.Trace.Span("masked_select (device)", "kernel"))
            {
                owner.Stream.Fill(taken, 0, sizeof(ulong));
                owner.LaunchMaskedSelect(result, taken, device.Other, device.Base, device.Importance, output.Length, threshold,
                    output.DType, Other.DType, Base.DType, start);
                owner.SyncIfTracing();
            }
            using var download = owner.Trace.Span("download", "download", $"{output.ByteLength} bytes");
            owner.Staging.Download(output.Pointer, result, 0, output.ByteLength);
            ulong count;
            owner.Staging.DownloadSmall(&count, taken, sizeof(ulong));
            return (long)count;
        }

        protected override bool HasDeviceKernel(DType dtype) => DeviceDTypes.HasKernel(dtype);

        protected override void Download(NativeArray<float> destination)
        {
            owner.Context.MakeCurrent();
            using var download = owner.Trace.Span("download", "download", $"{destination.ByteLength} bytes");
            owner.Staging.Download((byte*)destination.Pointer, device.Importance, 0, destination.ByteLength);
        }

        protected override void Release()
        {
            owner._a.Held = owner._b.Held = owner._importance.Held = false;
            owner.Gate.Exit();
        }
    }
}
