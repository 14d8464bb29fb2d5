using System.Diagnostics;
using Engine.Core;
using Engine.Core.Numerics;
using ILGPU.Runtime;

namespace Engine.Kernels.Ilgpu;

/// <summary>Times the ILGPU kernels on data already in accelerator memory, next to a device-to-device copy and
/// the staged upload: the twin of <see cref="Cuda.CudaKernelBench"/>, so ILGPU's generated PTX can be set beside
/// the hand-written CUDA C. ILGPU streams have no events: each sample is host-timed around the launch and a
/// stream synchronisation (microseconds of launch overhead on millisecond kernels).</summary>
public static unsafe class IlgpuKernelBench
{
    /// <summary>Uploads <paramref name="other"/> and <paramref name="base"/> (rows of <paramref name="rowLength"/>) once, then times each
    /// kernel <paramref name="repeat"/> times, host-timed around launch and synchronisation; returns the medians with the bytes each must move.</summary>
    public static IReadOnlyList<DeviceTiming> Run(IlgpuMergeKernels kernels, RawTensor other, RawTensor @base, int rowLength, int repeat)
    {
        long n = other.Length, rows = n / rowLength;
        var accelerator = kernels.Accelerator;
        accelerator.Bind();
        var stream = accelerator.DefaultStream;
        using var x = accelerator.Allocate1D<byte>(other.ByteLength);
        using var y = accelerator.Allocate1D<byte>(@base.ByteLength);
        using var importance = accelerator.Allocate1D<float>(n);
        using var copy = accelerator.Allocate1D<float>(n);
        using var rowKl = accelerator.Allocate1D<double>(rows);
        using var bad = accelerator.Allocate1D<ulong>(2);
        using var taken = accelerator.Allocate1D<ulong>(1);
        using var output = accelerator.Allocate1D<byte>(n * sizeof(ushort));
        var results = new List<DeviceTiming>();

        double upload = DeviceTiming.Median(repeat, () =>
        {
            var clock = Stopwatch.StartNew();
            kernels.Staging.Upload(x.View, other.Pointer);
            kernels.Staging.Flush();
            return clock.Elapsed.TotalMilliseconds;
        });
        results.Add(new DeviceTiming("upload (host to device, staged)", upload, other.ByteLength));
        kernels.Staging.Upload(y.View, @base.Pointer);
        kernels.Staging.Flush();

        results.Add(new DeviceTiming("copy (device to device)", Timed(() => importance.View.CopyTo(stream, copy.View)), 2 * n * sizeof(float)));
        bad.View.MemSet(stream, 0xFF);
        results.Add(new DeviceTiming("row_importance", Timed(() => kernels.LaunchRowImportance(importance.View, rowKl.View, bad.View, x.View, y.View, other.DType, @base.DType, rows, rowLength)),
            other.ByteLength + @base.ByteLength + n * sizeof(float) + rows * sizeof(double)));
        results.Add(new DeviceTiming("masked_select (to bf16)", Timed(() => kernels.LaunchMaskedSelect(output.View, taken.View, x.View, y.View, importance.View, n, 0f, DType.BF16, other.DType, @base.DType)),
            other.ByteLength + @base.ByteLength + n * sizeof(float) + n * sizeof(ushort)));
        long[] ranks = [(n - 1) / 4, (n - 1) / 2, 3 * (n - 1) / 4];
        var quartiles = new float[3];
        kernels.SelectRanksOnAccelerator(quartiles, importance.View, ranks);
        double select = DeviceTiming.Median(repeat, () =>
        {
            var clock = Stopwatch.StartNew();
            kernels.SelectRanksOnAccelerator(quartiles, importance.View, ranks);
            return clock.Elapsed.TotalMilliseconds;
        });
        results.Add(new DeviceTiming("select_ranks (Q25/Q50/Q75, 3 passes)", select, 3 * n * sizeof(float)));
        return results;

        double Timed(Action launch)
        {
            launch();
            stream.Synchronize();
            return DeviceTiming.Median(repeat, () =>
            {
                var clock = Stopwatch.StartNew();
                launch();
                stream.Synchronize();
                return clock.Elapsed.TotalMilliseconds;
            });
        }
    }
}
