using System.Buffers;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Engine.Core;
using Engine.Core.Numerics;

namespace Engine.Kernels.Cpu;

/// <summary>The vectorised, multi-threaded CPU backend: the reference every other backend is tested
/// against, and the production path on machines without a GPU. Work is split by rows or fixed-size blocks,
/// and every reduction happens inside one block in a fixed order, so results are bit-identical for any
/// thread count.</summary>
public sealed unsafe class CpuMergeKernels : IMergeKernels
{
    private const int BlockElements = 1 << 16;

    private readonly ElementwiseCpu _elementwise;

    /// <summary>The CPU backend on <paramref name="threads"/> worker threads (0: one per logical core).</summary>
    public CpuMergeKernels(int threads = 0)
    {
        Threads = threads > 0 ? threads : Environment.ProcessorCount;
        _elementwise = new ElementwiseCpu(Threads);
    }

    /// <summary>Worker threads; results do not depend on it.</summary>
    public int Threads { get; }

    /// <inheritdoc/>
    public string Device => $"cpu ({Threads} threads, {(Vector256.IsHardwareAccelerated ? "AVX2" : "scalar")})";

    private ParallelOptions Options => new() { MaxDegreeOfParallelism = Threads };

    /// <inheritdoc/>
    public void RowImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision)
    {
        ImportanceShapes.Check(importance, rowKl, other, @base, rowLength);
        // Pooled, as are the block buffers below: per-call large arrays would churn the large-object heap.
        var kl = ArrayPool<double>.Shared.Rent(rowKl.Length);
        ForEachRowBlock(rowKl.Length, rowLength, () => new RowImportanceCpu.Scratch(rowLength), (first, end, scratch) =>
        {
            for (long r = first; r < end; r++)
            {
                var dest = importance.Slice(r * rowLength, rowLength);
                kl[r] = precision == ComputePrecision.BFloat16
                    ? RowImportanceCpu.BFloat16(dest, other, @base, r, rowLength, scratch)
                    : RowImportanceCpu.Float32(dest, other, @base, r, rowLength, scratch);
            }
        }, _ => { });
        kl.AsSpan(0, rowKl.Length).CopyTo(rowKl);
        ArrayPool<double>.Shared.Return(kl);
    }

    /// <summary>Keeps the importance where a CPU computes it best: not at all. Float32 importances are recomputed
    /// from the inputs and each row's KL by the quartiles and the selection (<see cref="CpuFusedImportance"/>),
    /// with the top-bit histogram of the exact quantiles built in the importance pass; bf16 emulation stores them.</summary>
    public IImportance ComputeImportance(NativeArray<float> importance, Span<double> rowKl, RawTensor other, RawTensor @base, int rowLength, ComputePrecision precision) =>
        precision == ComputePrecision.Float32
            ? CpuFusedImportance.Compute(this, importance, rowKl, other, @base, rowLength)
            : HostImportance.Compute(this, importance, rowKl, other, @base, rowLength, precision);

    /// <summary>Runs <paramref name="body"/> over rows [first, end) in blocks of about <see cref="BlockElements"/>
    /// elements on the backend's threads, each with its own state; a non-finite input reports the earliest element
    /// any worker hit.</summary>
    internal void ForEachRowBlock<TState>(long rows, int rowLength, Func<TState> init, Action<long, long, TState> body, Action<TState> finish)
    {
        int rowsPerTask = Math.Max(1, BlockElements / rowLength);
        long tasks = (rows + rowsPerTask - 1) / rowsPerTask;
        try
        {
            Parallel.For(0L, tasks, Options, init, (task, _, state) =>
            {
                body(task * rowsPerTask, Math.Min(rows, (task + 1) * rowsPerTask), state);
                return state;
            }, finish);
        }
        catch (AggregateException e) when (e.Flatten().InnerExceptions.All(x => x is NonFiniteValueException))
        {
            // Several workers may each have hit a bad row: report the earliest element among them.
            throw e.Flatten().InnerExceptions.Cast<NonFiniteValueException>().MinBy(x => x.Element)!;
        }
    }

    /// <summary>Runs <paramref name="body"/> over element blocks [begin, begin + count) of <paramref name="n"/>
    /// elements on the backend's threads, each with its own state.</summary>
    internal void ForEachBlock<TState>(long n, Func<TState> init, Action<long, int, TState> body, Action<TState> finish)
    {
        long blocks = (n + BlockElements - 1) / BlockElements;
        Parallel.For(0L, blocks, Options, init, (block, _, state) =>
        {
            long begin = block * BlockElements;
            body(begin, (int)Math.Min(BlockElements, n - begin), state);
            return state;
        }, finish);
    }

    /// <summary>Elements per block of the element-wise passes.</summary>
    internal const int BlockLength = BlockElements;

    /// <inheritdoc/>
    public void SelectRanks(Span<float> results, NativeArray<float> values, ReadOnlySpan<long> ranks) =>
        RadixSelect.Select(results, values.Pointer, values.Length, ranks, Threads);

    /// <inheritdoc/>
    public long MaskedSelect(RawTensor output, RawTensor other, RawTensor @base, NativeArray<float> importance, long start, float threshold)
    {
        if (output.Length != other.Length || output.Length != @base.Length || start < 0 || start + output.Length > importance.Length)
            throw new ArgumentException("masked select ranges disagree");
        return MaskedSelect(output, other, @base, (begin, _, count) => importance.Slice(start + begin, count), threshold);
    }

    /// <summary>The importance of elements [begin, begin + count) of a masked select's range: a slice of a stored
    /// array, or computed into <paramref name="buffer"/> (a pooled block of at least count floats).</summary>
    internal delegate ReadOnlySpan<float> ImportanceBlock(long begin, float[] buffer, int count);

    /// <summary><see cref="MaskedSelect(RawTensor, RawTensor, RawTensor, NativeArray{float}, long, float)"/> with the
    /// importance given block by block (<see cref="CpuFusedImportance"/> recomputes it instead of storing it).</summary>
    internal long MaskedSelect(RawTensor output, RawTensor other, RawTensor @base, ImportanceBlock importanceOf, float threshold)
    {
        long n = output.Length;
        long blocks = (n + BlockElements - 1) / BlockElements;
        long taken = 0;
        if (output.DType == other.DType && output.DType == @base.DType && output.DType is DType.BF16 or DType.F16 or DType.F32)
        {
            // Stored elements already in the output dtype: select their bits, no conversion.
            bool half = output.DType.SizeOf() == 2;
            Parallel.For(0L, blocks, Options, () => (ArrayPool<float>.Shared.Rent(BlockElements), 0L), (block, _, state) =>
            {
                long begin = block * BlockElements;
                int len = (int)Math.Min(BlockElements, n - begin);
                var imp = importanceOf(begin, state.Item1, len);
                var o = other.Bytes(begin, len);
                var b = @base.Bytes(begin, len);
                var dest = output.WritableBytes(begin, len);
                return (state.Item1, state.Item2 + (half
                    ? MaskedSelectCpu.Select16(MemoryMarshal.Cast<byte, ushort>(dest), MemoryMarshal.Cast<byte, ushort>(o), MemoryMarshal.Cast<byte, ushort>(b), imp, threshold)
                    : MaskedSelectCpu.Select32(MemoryMarshal.Cast<byte, float>(dest), MemoryMarshal.Cast<byte, float>(o), MemoryMarshal.Cast<byte, float>(b), imp, threshold)));
            }, state =>
            {
                ArrayPool<float>.Shared.Return(state.Item1);
                Interlocked.Add(ref taken, state.Item2);
            });
            return taken;
        }
        Parallel.For(0L, blocks, Options, () => (ArrayPool<float>.Shared.Rent(BlockElements), ArrayPool<float>.Shared.Rent(BlockElements), ArrayPool<float>.Shared.Rent(BlockElements), 0L), (block, _, state) =>
        {
            long begin = block * BlockElements;
            int count = (int)Math.Min(BlockElements, n - begin);
            var imp = importanceOf(begin, state.Item3, count);
            var b = state.Item1.AsSpan(0, count);
            var o = state.Item2.AsSpan(0, count);
            @base.ReadSingles(begin, b);
            other.ReadSingles(begin, o);
            int got = MaskedSelectCpu.Select(b, o, imp, threshold);
            output.WriteSingles(begin, b);
            return (state.Item1, state.Item2, state.Item3, state.Item4 + got);
        }, state =>
        {
            ArrayPool<float>.Shared.Return(state.Item1);
            ArrayPool<float>.Shared.Return(state.Item2);
            ArrayPool<float>.Shared.Return(state.Item3);
            Interlocked.Add(ref taken, state.Item4);
        });
        return taken;
    }

    /// <inheritdoc/>
    public void SegmentedLinearCombination(RawTensor output, ReadOnlySpan<RawTensor> inputs, ReadOnlySpan<float> coefficients, RawTensor? @base,
        long segmentLength, long firstElement) =>
        _elementwise.SegmentedLinearCombination(output, inputs, coefficients, @base, segmentLength, firstElement);

    /// <inheritdoc/>
    public void Gram(Span<double> gram, ReadOnlySpan<RawTensor> inputs, RawTensor? @base, long segmentLength) =>
        _elementwise.Gram(gram, inputs, @base, segmentLength);

    /// <inheritdoc/>
    public void AbsDifference(NativeArray<float> magnitudes, RawTensor other, RawTensor @base) =>
        _elementwise.AbsDifference(magnitudes, other, @base);

    /// <inheritdoc/>
    public void AbsDifferenceSums(Span<double> sums, RawTensor other, RawTensor @base, ReadOnlySpan<ulong> keep) =>
        _elementwise.AbsDifferenceSums(sums, other, @base, keep);

    /// <inheritdoc/>
    public void RandomKeepMask(Span<ulong> keep, long length, ulong key, double density) =>
        _elementwise.RandomKeepMask(keep, length, key, density);

    /// <inheritdoc/>
    public void TaskArithmetic(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, TaskArithmeticTerms terms, long maskStart) =>
        _elementwise.TaskArithmetic(output, models, @base, terms, maskStart);

    /// <inheritdoc/>
    public void NearSwap(RawTensor output, RawTensor model, RawTensor @base, float t) => _elementwise.NearSwap(output, model, @base, t);

    /// <inheritdoc/>
    public void CountedAverage(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, float epsilon) =>
        _elementwise.CountedAverage(output, models, @base, epsilon);

    /// <inheritdoc/>
    public void AmplifiedCountedAverage(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, ReadOnlySpan<float> amplification, float epsilon) =>
        _elementwise.AmplifiedCountedAverage(output, models, @base, amplification, epsilon);

    /// <inheritdoc/>
    public long DeltaVariance(NativeArray<float> variance, ReadOnlySpan<RawTensor> models, RawTensor @base) => _elementwise.DeltaVariance(variance, models, @base);

    /// <inheritdoc/>
    public void DeltaSquareSums(Span<double> sums, ReadOnlySpan<RawTensor> models, RawTensor @base, ulong[]? keep) =>
        _elementwise.DeltaSquareSums(sums, models, @base, keep);

    /// <inheritdoc/>
    public void SignElectedMean(RawTensor output, ReadOnlySpan<RawTensor> models, RawTensor @base, ReadOnlySpan<float> weights, ulong[]? keep, long keepStart) =>
        _elementwise.SignElectedMean(output, models, @base, weights, keep, keepStart);

    /// <inheritdoc/>
    public void PairSums(Span<double> sums, RawTensor x0, RawTensor x1, RawTensor? @base, long vectors, bool alongFirst) =>
        _elementwise.PairSums(sums, x0, x1, @base, vectors, alongFirst);

    /// <inheritdoc/>
    public void SlerpBlend(RawTensor output, RawTensor x0, RawTensor x1, RawTensor? @base, ReadOnlySpan<float> coefficients, ReadOnlySpan<ulong> lerp, float t,
        long length, long vectors, bool alongFirst, long firstElement) =>
        _elementwise.SlerpBlend(output, x0, x1, @base, coefficients, lerp, t, length, vectors, alongFirst, firstElement);

    /// <inheritdoc/>
    public void Dispose()
    {
    }
}
