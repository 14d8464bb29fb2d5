using Engine.Core;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Kernels.Cuda;
using Engine.Kernels.Ilgpu;
using Engine.Merge.Execution;
using Engine.Merge.Methods;

namespace Engine.Merge.Benchmarks;

/// <summary>One row of <c>engine bench kernels</c>: a kernel's median time on a backend and the bytes it must
/// move, against a copy bandwidth measured in the same run.</summary>
/// <param name="Device">The backend's description.</param>
/// <param name="Kernel">What was timed.</param>
/// <param name="Scope">"host" (the copy floor), "end-to-end" (through <see cref="IMergeKernels"/> from host memory,
/// transfers included) or "device-resident" (the kernel alone on device data).</param>
/// <param name="Elements">Elements per tensor.</param>
/// <param name="MedianSeconds">The median time.</param>
/// <param name="Bytes">Bytes read and written.</param>
/// <param name="CopyBytesPerSecond">The copy bandwidth of the same scope, where one was measured.</param>
public sealed record KernelBenchRow(string Device, string Kernel, string Scope, long Elements, double MedianSeconds, long Bytes, double? CopyBytesPerSecond)
{
    /// <summary>The kernel's rate: <c>Bytes / MedianSeconds</c>, bytes per second.</summary>
    public double BytesPerSecond => Bytes / MedianSeconds;

    /// <summary>This row's rate as a fraction of the copy bandwidth (null without one).</summary>
    public double? FractionOfCopy => CopyBytesPerSecond is { } c ? BytesPerSecond / c : null;
}

/// <summary>The measurements of <c>engine bench kernels</c>: Arcee Fusion's kernels on one backend over generated
/// bf16 tensors (rows of <see cref="RowLength"/>), each the median after a warm-up, beside a host memory copy and,
/// on a GPU backend, the device-resident kernels beside a device-to-device copy.</summary>
public static class KernelBenchmark
{
    /// <summary>The row length of the generated tensors (Qwen2.5-32B's hidden size).</summary>
    public const int RowLength = 5120;

    /// <summary>Times every kernel on <paramref name="kernels"/> over <paramref name="n"/> elements (a multiple of
    /// <see cref="RowLength"/>).</summary>
    public static unsafe List<KernelBenchRow> Measure(IMergeKernels kernels, long n, int repeat)
    {
        long rowsCount = n / RowLength;
        using var other = new NativeArray<ushort>(n);
        using var @base = new NativeArray<ushort>(n);
        using var importance = new NativeArray<float>(n);
        using var output = new NativeArray<ushort>(n);
        using var copy = new NativeArray<float>(n);
        Fill(other, @base);
        var rowKl = new double[rowsCount];
        var quartiles = new float[3];
        long[] ranks = [(n - 1) / 4, (n - 1) / 2, 3 * (n - 1) / 4];
        var x = other.AsRaw(DType.BF16);
        var y = @base.AsRaw(DType.BF16);

        double hostCopy = BenchTiming.MedianSeconds(repeat, () => Parallel.For(0, 16, p =>
        {
            long begin = n * p / 16, end = n * (p + 1) / 16;
            Buffer.MemoryCopy(importance.Pointer + begin, copy.Pointer + begin, (end - begin) * 4, (end - begin) * 4);
        }));
        double copyRate = 2.0 * n * sizeof(float) / hostCopy;
        KernelBenchRow EndToEnd(string kernel, long bytes, Action run) => new(kernels.Device, kernel, "end-to-end", n, BenchTiming.MedianSeconds(repeat, run), bytes, copyRate);
        var rows = new List<KernelBenchRow>
        {
            new(kernels.Device, "host memcpy (copy floor)", "host", n, hostCopy, 2 * n * sizeof(float), copyRate),
            EndToEnd("row_importance (bf16 in)", 4 * n + 4 * n + 8 * rowsCount, () => kernels.RowImportance(importance, rowKl, x, y, RowLength, ComputePrecision.Float32)),
            EndToEnd("select_ranks (Q25/Q50/Q75)", 4 * n, () => kernels.SelectRanks(quartiles, importance, ranks)),
            EndToEnd("masked_select (bf16 out)", 2 * n + 2 * n + 4 * n + 2 * n, () => kernels.MaskedSelect(output.AsRaw(DType.BF16), x, y, importance, 0, quartiles[1])),
            EndToEnd("arcee_fusion tensor (kept importance)", 2 * n + 2 * n + 2 * n, () => KeptImportanceTensor(kernels, importance, rowKl, x, y, output, ranks)),
        };
        var timings = kernels switch
        {
            CudaMergeKernels cuda => CudaKernelBench.Run(cuda, x, y, RowLength, repeat),
            IlgpuMergeKernels ilgpu => IlgpuKernelBench.Run(ilgpu, x, y, RowLength, repeat),
            _ => null,
        };
        if (timings != null)
        {
            double deviceCopy = timings.Single(t => t.Kernel.StartsWith("copy")).GigabytesPerSecond * 1e9;
            foreach (var t in timings) rows.Add(new(kernels.Device, t.Kernel, "device-resident", n, t.MedianMilliseconds / 1e3, t.Bytes, deviceCopy));
        }
        return rows;
    }

    /// <summary>Exact Q25/Q50/Q75 of <paramref name="count"/> generated device-resident floats on CUDA.</summary>
    public static unsafe KernelBenchRow MeasureQuantiles(CudaMergeKernels cuda, long count, int repeat)
    {
        using var values = new NativeArray<float>(count);
        float* p = values.Pointer;
        Parallel.For(0, 64, part =>
        {
            long begin = count * part / 64, end = count * (part + 1) / 64;
            var random = new Random(part);
            for (long i = begin; i < end; i++) p[i] = (float)(random.NextDouble() * random.NextDouble()) * 1e-4f;
        });
        var t = CudaKernelBench.Quantiles(cuda, values, repeat);
        return new(cuda.Device, t.Kernel, "device-resident", count, t.MedianMilliseconds / 1e3, t.Bytes, null);
    }

    /// <summary>One Arcee Fusion tensor as the merge runs it: the importance kept by the backend, its quartiles,
    /// and the selection written in the merge's output chunks (the rows above are the same steps as separate calls).</summary>
    private static void KeptImportanceTensor(IMergeKernels kernels, NativeArray<float> host, double[] rowKl, RawTensor x, RawTensor y,
        NativeArray<ushort> output, long[] ranks)
    {
        using var kept = kernels.ComputeImportance(host, rowKl, x, y, RowLength, ComputePrecision.Float32);
        Span<float> q = stackalloc float[3];
        kept.SelectRanks(q, ranks);
        float threshold = ArceeFusion.Threshold(q[0], q[1], q[2], ArceeFusion.DefaultLambda, ComputePrecision.Float32);
        var all = output.AsRaw(DType.BF16);
        for (long start = 0; start < all.Length; start += MergeExecutor.OutputChunkElements)
            kept.MaskedSelect(all.Slice(start, Math.Min(MergeExecutor.OutputChunkElements, all.Length - start)), start, threshold);
    }

    private static unsafe void Fill(NativeArray<ushort> other, NativeArray<ushort> @base)
    {
        long n = other.Length;
        ushort* o = other.Pointer, b = @base.Pointer;
        Parallel.For(0, 64, part =>
        {
            long begin = n * part / 64, end = n * (part + 1) / 64;
            var random = new Random(part + 1);
            for (long i = begin; i < end; i++)
            {
                float v = (float)(random.NextDouble() * 2 - 1) * 0.05f;
                b[i] = DTypeConversion.SingleToBFloat16(v);
                o[i] = DTypeConversion.SingleToBFloat16(v + (float)(random.NextDouble() * 2 - 1) * 0.002f);
            }
        });
    }
}
