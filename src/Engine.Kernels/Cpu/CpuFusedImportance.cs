using System.Buffers;
using System.Runtime.InteropServices;
using Engine.Core;
using Engine.Core.Numerics;

namespace Engine.Kernels.Cpu;

/// <summary>Arcee Fusion's float32 importance on the CPU without a model-sized importance array: the importance
/// pass keeps each row's KL and the top-16-bit histogram of the importances (counted while the row is in cache),
/// and the quartiles' second histogram pass and the selection recompute <c>|other - base| * (float)KL_row</c>
/// from the inputs block by block. That product is one subtraction, one absolute value and one multiplication,
/// each rounded once, so the recomputed values are the stored ones bit for bit, and the quartiles and selection
/// equal those of the separate kernel calls. What it saves: writing and re-reading 4 bytes per element of
/// importance, one histogram pass, and first-touch page faults on a fresh array the size of the largest tensor
/// (the embedding's 545 MB on a 0.5B model: about a second on the development VM).</summary>
internal sealed unsafe class CpuFusedImportance : IImportance
{
    private readonly CpuMergeKernels _kernels;
    private readonly NativeArray<float> _host;
    private readonly RawTensor _other;
    private readonly RawTensor _base;
    private readonly int _rowLength;
    private readonly float[] _rowKl;
    private readonly long[] _top;
    private bool _hostFilled;

    private CpuFusedImportance(CpuMergeKernels kernels, NativeArray<float> host, RawTensor other, RawTensor @base, int rowLength, float[] rowKl, long[] top)
    {
        _kernels = kernels;
        _host = host;
        _other = other;
        _base = @base;
        _rowLength = rowLength;
        _rowKl = rowKl;
        _top = top;
    }

    /// <summary>The importance pass: each row's KL into <paramref name="rowKl"/> and the top-bit histogram;
    /// <paramref name="host"/> is filled only if <see cref="ToHost"/> is called.</summary>
    public static CpuFusedImportance Compute(CpuMergeKernels kernels, NativeArray<float> host, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength)
    {
        ImportanceShapes.Check(host, rowKl, other, @base, rowLength);
        long rows = rowKl.Length;
        var kl = ArrayPool<double>.Shared.Rent((int)rows);
        var top = new long[RadixSelect.Bins];
        try
        {
            kernels.ForEachRowBlock(rows, rowLength, () => new TopCounter(rowLength), (first, end, state) =>
            {
                var row = state.Scratch.Q.AsSpan(0, rowLength);
                for (long r = first; r < end; r++)
                {
                    kl[r] = RowImportanceCpu.Float32(row, other, @base, r, rowLength, state.Scratch);
                    state.Count(row, top);
                }
            }, state => state.Flush(top));
            kl.AsSpan(0, (int)rows).CopyTo(rowKl);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(kl);
        }
        // The float the importance pass multiplied by (RowImportanceCpu rounds the float64 KL once).
        var rowKlSingle = new float[rows];
        for (long r = 0; r < rows; r++) rowKlSingle[r] = (float)rowKl[(int)r];
        return new CpuFusedImportance(kernels, host, other, @base, rowLength, rowKlSingle, top);
    }

    public long Length => _other.Length;

    public void SelectRanks(Span<float> results, ReadOnlySpan<long> ranks)
    {
        RadixSelect.CheckRanks(results, ranks, Length);
        if (ranks.IsEmpty) return;
        RadixSelect.SelectFromTop(results, _top, ranks, LowHistograms);
    }

    public long MaskedSelect(RawTensor output, long start, float threshold)
    {
        ImportanceShapes.CheckChunk(start, output.Length, Length);
        if (IsBf16Pair && output.DType == DType.BF16) return MaskedSelectBf16(output, start, threshold);
        return _kernels.MaskedSelect(output, _other.Slice(start, output.Length), _base.Slice(start, output.Length),
            (begin, buffer, count) => Recompute(buffer.AsSpan(0, count), start + begin), threshold);
    }

    public NativeArray<float> ToHost()
    {
        if (!_hostFilled)
        {
            _kernels.ForEachBlock(Length, () => 0, (begin, count, _) => Recompute(_host.Slice(begin, count), begin), _ => { });
            _hostFilled = true;
        }
        return _host;
    }

    public void Dispose()
    {
    }

    /// <summary>Both inputs bf16: the passes after the importance pass read their bits (<see cref="FusedBf16Cpu"/>).</summary>
    private bool IsBf16Pair => _other.DType == DType.BF16 && _base.DType == DType.BF16;

    /// <summary>The end (exclusive, at most <paramref name="count"/>) of the row segment that holds element
    /// <paramref name="i"/> of a block starting at element <paramref name="start"/>, and that row's KL.</summary>
    private (int End, float Kl) RowSegment(long start, int i, int count)
    {
        long row = (start + i) / _rowLength;
        return ((int)Math.Min(count, (row + 1) * _rowLength - start), _rowKl[row]);
    }

    /// <summary>The selection of a bf16 pair into bf16, row segment by row segment, from the stored bits.</summary>
    private long MaskedSelectBf16(RawTensor output, long start, float threshold)
    {
        long taken = 0;
        _kernels.ForEachBlock(output.Length, () => 0, (begin, count, _) =>
        {
            var dest = MemoryMarshal.Cast<byte, ushort>(output.WritableBytes(begin, count));
            var o = MemoryMarshal.Cast<byte, ushort>(_other.Bytes(start + begin, count));
            var b = MemoryMarshal.Cast<byte, ushort>(_base.Bytes(start + begin, count));
            long got = 0;
            for (int i = 0; i < count;)
            {
                var (end, kl) = RowSegment(start + begin, i, count);
                got += FusedBf16Cpu.Select(dest[i..end], o[i..end], b[i..end], kl, threshold);
                i = end;
            }
            Interlocked.Add(ref taken, got);
        }, _ => { });
        return taken;
    }

    /// <summary>The low-16-bit histograms of the keys in up to three top buckets, over recomputed blocks.</summary>
    private long[] LowHistograms(int[] buckets)
    {
        int size = RadixSelect.Bins * buckets.Length;
        var total = ArrayPool<long>.Shared.Rent(size);
        Array.Clear(total, 0, size);
        bool bf16 = IsBf16Pair;
        uint b0 = (uint)buckets[0], b1 = (uint)buckets[Math.Min(1, buckets.Length - 1)], b2 = (uint)buckets[^1];
        _kernels.ForEachBlock(Length, () => new LowCounter(size), (begin, count, state) =>
        {
            state.Counting(total, count);
            if (bf16)
            {
                var o = MemoryMarshal.Cast<byte, ushort>(_other.Bytes(begin, count));
                var b = MemoryMarshal.Cast<byte, ushort>(_base.Bytes(begin, count));
                fixed (int* bins = state.Bins)
                {
                    for (int i = 0; i < count;)
                    {
                        var (end, kl) = RowSegment(begin, i, count);
                        FusedBf16Cpu.CountLow(bins, o[i..end], b[i..end], kl, b0, b1, b2);
                        i = end;
                    }
                }
                return;
            }
            var values = Recompute(state.Values.AsSpan(0, count), begin);
            fixed (float* v = values)
            fixed (int* bins = state.Bins)
            {
                RadixSelect.CountLow(bins, v, 0, count, buckets);
            }
        }, state => state.Flush(total));
        return total;
    }

    /// <summary>The importances of elements [start, start + destination.Length), row segment by row segment.</summary>
    private ReadOnlySpan<float> Recompute(Span<float> destination, long start)
    {
        int count = destination.Length;
        var x = ArrayPool<float>.Shared.Rent(count);
        var y = ArrayPool<float>.Shared.Rent(count);
        try
        {
            _other.ReadSingles(start, x.AsSpan(0, count));
            _base.ReadSingles(start, y.AsSpan(0, count));
            for (int i = 0; i < count;)
            {
                long row = (start + i) / _rowLength;
                int end = (int)Math.Min(count, (row + 1) * _rowLength - start);
                RowImportanceCpu.ScaledAbsDifference(destination[i..end], x.AsSpan(i, end - i), y.AsSpan(i, end - i), _rowKl[row]);
                i = end;
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(x);
            ArrayPool<float>.Shared.Return(y);
        }
        return destination;
    }

    /// <summary>A worker's row scratch and int bins of the top 16 bits, folded into the long totals before they
    /// could overflow.</summary>
    private sealed class TopCounter
    {
        private readonly int[] _bins = ArrayPool<int>.Shared.Rent(RadixSelect.Bins);
        private long _counted;

        public TopCounter(int rowLength)
        {
            Scratch = new RowImportanceCpu.Scratch(rowLength);
            Array.Clear(_bins, 0, RadixSelect.Bins);
        }

        public RowImportanceCpu.Scratch Scratch { get; }

        public void Count(ReadOnlySpan<float> row, long[] total)
        {
            if (_counted + row.Length > RadixSelect.Segment) Fold(total);
            fixed (float* v = row)
            fixed (int* bins = _bins)
            {
                RadixSelect.CountTop(bins, v, 0, row.Length);
            }
            _counted += row.Length;
        }

        /// <summary>Folds the last counts and returns the bins to the pool.</summary>
        public void Flush(long[] total)
        {
            Fold(total);
            ArrayPool<int>.Shared.Return(_bins);
        }

        private void Fold(long[] total)
        {
            lock (total)
            {
                for (int b = 0; b < RadixSelect.Bins; b++) total[b] += _bins[b];
            }
            Array.Clear(_bins, 0, RadixSelect.Bins);
            _counted = 0;
        }
    }

    /// <summary>A worker's block of recomputed importances and its int bins of the low 16 bits.</summary>
    private sealed class LowCounter
    {
        private readonly int _size;
        private long _counted;

        public LowCounter(int size)
        {
            _size = size;
            Array.Clear(Bins, 0, size);
        }

        public float[] Values { get; } = ArrayPool<float>.Shared.Rent(CpuMergeKernels.BlockLength);
        public int[] Bins { get; } = ArrayPool<int>.Shared.Rent(RadixSelect.Bins * 3);

        /// <summary>Before counting <paramref name="count"/> more keys: folds the bins first if they could overflow.</summary>
        public void Counting(long[] total, int count)
        {
            if (_counted + count > RadixSelect.Segment) Fold(total);
            _counted += count;
        }

        /// <summary>Folds the last counts and returns the buffers to the pool.</summary>
        public void Flush(long[] total)
        {
            Fold(total);
            ArrayPool<float>.Shared.Return(Values);
            ArrayPool<int>.Shared.Return(Bins);
        }

        private void Fold(long[] total)
        {
            lock (total)
            {
                for (int b = 0; b < _size; b++) total[b] += Bins[b];
            }
            Array.Clear(Bins, 0, _size);
            _counted = 0;
        }
    }
}
