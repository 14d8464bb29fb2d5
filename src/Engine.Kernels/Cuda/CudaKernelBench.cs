using System.Diagnostics;
using Engine.Core;
using Engine.Core.Numerics;
using Engine.Interop.Cuda;

namespace Engine.Kernels.Cuda;

/// <summary>Times the CUDA kernels on data already in device memory (what the kernels themselves cost,
/// without PCIe), next to a device-to-device copy and the staged host-to-device upload.</summary>
public static unsafe class CudaKernelBench
{
    /// <summary>Uploads <paramref name="other"/> and <paramref name="base"/> (rows of <paramref name="rowLength"/>) once, then times each
    /// kernel <paramref name="repeat"/> times by CUDA events; returns the medians with the bytes each must move.</summary>
    public static IReadOnlyList<DeviceTiming> Run(CudaMergeKernels kernels, RawTensor other, RawTensor @base, int rowLength, int repeat)
    {
        long n = other.Length, rows = n / rowLength;
        var context = kernels.Context;
        var stream = kernels.Stream;
        context.MakeCurrent();
        using var x = context.Allocate(other.ByteLength);
        using var y = context.Allocate(@base.ByteLength);
        using var importance = context.Allocate(n * sizeof(float));
        using var copy = context.Allocate(n * sizeof(float));
        using var rowKl = context.Allocate(rows * sizeof(double));
        using var flags = context.Allocate(16);
        using var output = context.Allocate(n * sizeof(ushort));
        using var start = context.CreateEvent();
        using var end = context.CreateEvent();
        var results = new List<DeviceTiming>();

        var upload = DeviceTiming.Median(repeat, () =>
        {
            var clock = Stopwatch.StartNew();
            kernels.Staging.Upload(x, 0, other.Pointer, other.ByteLength);
            stream.Synchronize();
            return clock.Elapsed.TotalMilliseconds;
        });
        results.Add(new DeviceTiming("upload (host to device, staged)", upload, other.ByteLength));
        kernels.Staging.Upload(y, 0, @base.Pointer, @base.ByteLength);

        results.Add(new DeviceTiming("copy (device to device)", Timed(() => stream.CopyOnDevice(copy, importance, n * sizeof(float))), 2 * n * sizeof(float)));
        stream.Fill(flags, 0xFF, 16);
        results.Add(new DeviceTiming("row_importance", Timed(() => kernels.LaunchRowImportance(importance, rowKl, flags, x, y, other.DType, @base.DType, rows, rowLength)),
            other.ByteLength + @base.ByteLength + n * sizeof(float) + rows * sizeof(double)));
        results.Add(new DeviceTiming("masked_select (to bf16)", Timed(() => kernels.LaunchMaskedSelect(output, flags, x, y, importance, n, 0f, DType.BF16, other.DType, @base.DType)),
            other.ByteLength + @base.ByteLength + n * sizeof(float) + n * sizeof(ushort)));
        results.Add(SelectTiming(kernels, importance, n, repeat, "select_ranks (Q25/Q50/Q75, 3 passes)"));
        return results;

        double Timed(Action launch)
        {
            launch();
            stream.Synchronize();
            return DeviceTiming.Median(repeat, () =>
            {
                stream.Record(start);
                launch();
                stream.Record(end);
                end.Synchronize();
                return CudaEvent.Elapsed(start, end);
            });
        }
    }

    /// <summary>Exact Q25/Q50/Q75 of <paramref name="values"/> (float32, generated on the host
    /// and uploaded once; e.g. 779M: Qwen-32B's embedding), timed on the device-resident copy.</summary>
    public static DeviceTiming Quantiles(CudaMergeKernels kernels, NativeArray<float> values, int repeat)
    {
        kernels.Context.MakeCurrent();
        using var device = kernels.Context.Allocate(values.ByteLength);
        kernels.Staging.Upload(device, 0, (byte*)values.Pointer, values.ByteLength);
        kernels.Stream.Synchronize();
        return SelectTiming(kernels, device, values.Length, repeat, $"select_ranks, {values.Length:N0} floats (Q25/Q50/Q75)");
    }

    private static DeviceTiming SelectTiming(CudaMergeKernels kernels, CudaDeviceBuffer values, long n, int repeat, string name)
    {
        long[] ranks = [(n - 1) / 4, (n - 1) / 2, 3 * (n - 1) / 4];
        var results = new float[3];
        kernels.SelectRanksOnDevice(results, values, n, ranks);
        double ms = DeviceTiming.Median(repeat, () =>
        {
            var clock = Stopwatch.StartNew();
            kernels.SelectRanksOnDevice(results, values, n, ranks);
            return clock.Elapsed.TotalMilliseconds;
        });
        return new DeviceTiming(name, ms, 3 * n * sizeof(float));
    }

}
