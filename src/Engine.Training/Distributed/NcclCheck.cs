using System.Diagnostics;
using Engine.Core;
using Engine.Interop.Cuda;

namespace Engine.Training.Distributed;

/// <summary>What <see cref="NcclCheck.Run"/> found: the library and version, this rank's GPU, the collectives whose
/// results were wrong (empty when all were right), and the all-reduce timing (median of the timed runs; bus
/// bandwidth as nccl-tests defines it for an all-reduce, algorithm bandwidth x 2 (N - 1) / N, so 0 on one rank).</summary>
public sealed record NcclCheckReport(string Library, string Version, int Ranks, int Gpu, string GpuName, IReadOnlyList<string> Failures,
    long TimedElements, double AllReduceSeconds, double AlgorithmBandwidth, double BusBandwidth);

/// <summary>Checks the NCCL collectives on this rank's GPU and times the all-reduce the trainer's float64 gradients
/// take. Every rank of the world runs it. Each collective the trainer uses (all-reduce of float32 and float64,
/// reduce-scatter of float64 and all-gather of float32 on an uneven shard layout, broadcast) runs on device buffers
/// filled with rank-dependent integers, whose sums are exact, and is compared element by element with the
/// expected values; then an all-reduce of <c>elements</c> float64 values is timed.</summary>
public static unsafe class NcclCheck
{
    /// <summary>Runs the check on every rank of <paramref name="world"/>, timing <paramref name="repeat"/> all-reduces of
    /// <paramref name="elements"/> float64 values.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="elements"/> or <paramref name="repeat"/> is below 1.</exception>
    public static NcclCheckReport Run(TrainingWorld world, long elements, int repeat)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(elements, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeat, 1);
        int gpu = GpuAssignment.ForRank(world);
        using var context = CudaContext.Create(gpu);
        context.MakeCurrent();
        using var stream = context.CreateStream();
        using var nccl = NcclCollectives.Create(world.Collectives, stream.Handle.DangerousGetHandle());
        var failures = new List<string>();
        int n = world.Size, rank = world.Rank;
        // An element count no rank count divides evenly (for N > 1): the uneven path of reduce-scatter and all-gather.
        long total = 1000L * n + 7;
        var layout = ShardLayout.Even(total, n);
        double ranksSum = n * (n + 1) / 2.0;
        double Pattern(long i) => i % 1000 + 1;

        using (var buffer = context.Allocate(total * sizeof(double)))
        using (var shard = context.Allocate(layout.Count(0) * sizeof(double)))
        {
            Upload<double>(stream, buffer, total, i => (rank + 1) * Pattern(i));
            nccl.AllReduceSum((void*)buffer.Address, total, CollectiveDType.Float64);
            Expect<double>(failures, "all-reduce float64", stream, buffer, total, i => ranksSum * Pattern(i));

            Upload<float>(stream, buffer, total, i => (float)((rank + 1) * Pattern(i)));
            nccl.AllReduceSum((void*)buffer.Address, total, CollectiveDType.Float32);
            Expect<float>(failures, "all-reduce float32", stream, buffer, total, i => (float)(ranksSum * Pattern(i)));

            Upload<double>(stream, buffer, total, i => (rank + 1) * Pattern(i));
            nccl.ReduceScatterSum((void*)shard.Address, (void*)buffer.Address, layout, CollectiveDType.Float64);
            long offset = layout.Offset(rank);
            Expect<double>(failures, "reduce-scatter float64", stream, shard, layout.Count(rank), j => ranksSum * Pattern(offset + j));

            // Each rank writes its own shard as (its rank + 1) x pattern and garbage elsewhere.
            Upload<float>(stream, buffer, total, i => i >= offset && i < offset + layout.Count(rank) ? (float)((rank + 1) * Pattern(i)) : -1f);
            nccl.AllGather((void*)buffer.Address, layout, CollectiveDType.Float32);
            Expect<float>(failures, "all-gather float32", stream, buffer, total, i => (float)((OwnerOf(layout, i) + 1) * Pattern(i)));

            int root = n - 1;
            Upload<float>(stream, buffer, total, i => rank == root ? (float)Pattern(i) : -1f);
            nccl.Broadcast((void*)buffer.Address, total, CollectiveDType.Float32, root);
            Expect<float>(failures, "broadcast float32", stream, buffer, total, i => (float)Pattern(i));
        }

        var seconds = new List<double>();
        using (var big = context.Allocate(elements * sizeof(double)))
        {
            stream.Fill(big, 0, elements * sizeof(double));
            stream.Synchronize();
            nccl.AllReduceSum((void*)big.Address, elements, CollectiveDType.Float64);
            for (int r = 0; r < repeat; r++)
            {
                nccl.Barrier();
                var clock = Stopwatch.StartNew();
                nccl.AllReduceSum((void*)big.Address, elements, CollectiveDType.Float64);
                seconds.Add(clock.Elapsed.TotalSeconds);
            }
        }
        seconds.Sort();
        double median = seconds[seconds.Count / 2];
        double algorithm = elements * sizeof(double) / median;
        return new NcclCheckReport(nccl.Library, NcclCollectives.FormatVersion(nccl.Version), n, gpu, context.Name, failures,
            elements, median, algorithm, algorithm * 2.0 * (n - 1) / n);
    }

    private static int OwnerOf(ShardLayout layout, long index)
    {
        for (int r = layout.Ranks - 1; r >= 0; r--)
            if (layout.Count(r) > 0 && index >= layout.Offset(r)) return r;
        throw new EngineException($"element {index} is in no shard");
    }

    private static void Upload<T>(CudaStream stream, CudaDeviceBuffer buffer, long count, Func<long, T> value) where T : unmanaged
    {
        var host = new T[count];
        for (long i = 0; i < count; i++) host[i] = value(i);
        fixed (T* p = host) stream.CopyToDevice(buffer, 0, p, count * sizeof(T));
        stream.Synchronize();
    }

    private static void Expect<T>(List<string> failures, string what, CudaStream stream, CudaDeviceBuffer buffer, long count, Func<long, T> expected)
        where T : unmanaged, IEquatable<T>
    {
        var host = new T[count];
        fixed (T* p = host) stream.CopyToHost(p, buffer, 0, count * sizeof(T));
        stream.Synchronize();
        for (long i = 0; i < count; i++)
        {
            if (host[i].Equals(expected(i))) continue;
            failures.Add($"{what}: element {i} is {host[i]}, expected {expected(i)}");
            return;
        }
    }
}
