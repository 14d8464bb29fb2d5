using Engine.Training.Distributed;

namespace Engine.Training.Tests;

/// <summary>The ranks of one job as threads of this process: each rank's <see cref="ICollectives"/> publishes its
/// buffer's address, all ranks meet, each reads the others' buffers (sums in rank order, as a deterministic
/// transport does), and all meet again before anyone writes. It stands for NCCL on the device in tests that need no
/// GPU: <see cref="ReduceScatterSumInPlace"/> has NCCL's in-place semantics, not MPI's landing buffer.</summary>
internal sealed unsafe class ThreadedCollectives
{
    private readonly Barrier _barrier;
    private readonly nint[] _buffers;

    public ThreadedCollectives(int ranks)
    {
        _barrier = new Barrier(ranks);
        _buffers = new nint[ranks];
    }

    public int Size => _buffers.Length;

    /// <summary>Rank <paramref name="rank"/>'s view; <see cref="Calls"/> counts the calls of all ranks.</summary>
    public ICollectives Rank(int rank) => new View(this, rank);

    public int Calls;

    private sealed class View(ThreadedCollectives group, int rank) : ICollectives
    {
        public int Rank => rank;
        public int Size => group.Size;

        public void AllReduceSum(void* buffer, long count, CollectiveDType dtype)
        {
            var sum = Exchange(buffer, (all, me) => Sum(all, 0, count, dtype));
            Write(sum, buffer, 0, dtype);
            group._barrier.SignalAndWait();
        }

        public void ReduceScatterSum(void* recv, void* send, ShardLayout layout, CollectiveDType dtype)
        {
            var sum = Exchange(send, (all, me) => Sum(all, layout.Offset(rank), layout.Count(rank), dtype));
            Write(sum, recv, 0, dtype);
            group._barrier.SignalAndWait();
        }

        public void ReduceScatterSumInPlace(void* buffer, ShardLayout layout, CollectiveDType dtype)
        {
            var sum = Exchange(buffer, (all, me) => Sum(all, layout.Offset(rank), layout.Count(rank), dtype));
            Write(sum, buffer, layout.Offset(rank), dtype);
            group._barrier.SignalAndWait();
        }

        public void AllGather(void* buffer, ShardLayout layout, CollectiveDType dtype)
        {
            int size = SingleProcessCollectives.ElementSize(dtype);
            Exchange(buffer, (all, me) =>
            {
                for (int r = 0; r < all.Length; r++)
                {
                    if (r == rank) continue;
                    long bytes = layout.Count(r) * size, at = layout.Offset(r) * size;
                    Buffer.MemoryCopy((byte*)all[r] + at, (byte*)me + at, bytes, bytes);
                }
                return [];
            });
            group._barrier.SignalAndWait();
        }

        public void Broadcast(void* buffer, long count, CollectiveDType dtype, int root)
        {
            long bytes = count * SingleProcessCollectives.ElementSize(dtype);
            Exchange(buffer, (all, me) =>
            {
                if (rank != root) Buffer.MemoryCopy((void*)all[root], (void*)me, bytes, bytes);
                return [];
            });
            group._barrier.SignalAndWait();
        }

        public void Barrier() => group._barrier.SignalAndWait();

        public void Abort(int code) => throw new InvalidOperationException($"rank {rank} aborted the job with {code}");

        public void Dispose() { }

        // Publishes the buffer, waits for every rank's, reads them (nobody writes until all have read).
        private double[] Exchange(void* buffer, Func<nint[], nint, double[]> read)
        {
            Interlocked.Increment(ref group.Calls);
            group._buffers[rank] = (nint)buffer;
            group._barrier.SignalAndWait();
            var result = read(group._buffers, (nint)buffer);
            group._barrier.SignalAndWait();
            return result;
        }

        private static double[] Sum(nint[] all, long offset, long count, CollectiveDType dtype)
        {
            var sum = new double[count];
            foreach (nint b in all)
                for (long i = 0; i < count; i++)
                    sum[i] += dtype switch
                    {
                        CollectiveDType.Float64 => ((double*)b)[offset + i],
                        CollectiveDType.Float32 => ((float*)b)[offset + i],
                        CollectiveDType.Int64 => ((long*)b)[offset + i],
                        _ => throw new NotSupportedException($"no sum of {dtype}"),
                    };
            return sum;
        }

        private static void Write(double[] values, void* buffer, long offset, CollectiveDType dtype)
        {
            for (long i = 0; i < values.Length; i++)
            {
                switch (dtype)
                {
                    case CollectiveDType.Float64: ((double*)buffer)[offset + i] = values[i]; break;
                    case CollectiveDType.Float32: ((float*)buffer)[offset + i] = (float)values[i]; break;
                    case CollectiveDType.Int64: ((long*)buffer)[offset + i] = (long)values[i]; break;
                    default: throw new NotSupportedException($"no sum of {dtype}");
                }
            }
        }
    }
}
