using Engine.Core;
using Engine.Core.Numerics;
using Engine.Kernels.Cpu;
using Engine.Kernels.Parity;

namespace Engine.Kernels.Tests;

/// <summary>The CPU's fused importance (<see cref="CpuFusedImportance"/>: no stored importance, top histogram built
/// in the importance pass, importances recomputed for the second histogram and the selection) against the separate
/// kernel calls over a stored importance: every KL, rank, selected element and count bit for bit, on any thread count.</summary>
public sealed class CpuFusedImportanceTests
{
    /// <summary>A pair with rows far apart, rows close together, identical rows (KL 0: many tied importances) and
    /// equal elements inside rows.</summary>
    private static (float[] Other, float[] Base) Pair(int rows, int length, int seed)
    {
        var random = new Random(seed);
        var b = new float[rows * length];
        var p = new float[rows * length];
        for (int r = 0; r < rows; r++)
        {
            float spread = r % 4 == 0 ? 2f : r % 4 == 1 ? 0.01f : 0.2f;
            for (int j = 0; j < length; j++)
            {
                int i = r * length + j;
                b[i] = (float)(random.NextDouble() * 2 - 1);
                p[i] = r % 7 == 3 || j % 5 == 0 ? b[i] : b[i] + spread * (float)(random.NextDouble() - 0.5);
            }
        }
        return (p, b);
    }

    [Theory]
    [InlineData(1, 211, 37, DType.BF16)]
    [InlineData(2, 211, 37, DType.BF16)]
    [InlineData(3, 211, 37, DType.F32)]
    [InlineData(2, 1, 70001, DType.BF16)]
    [InlineData(2, 40, 4099, DType.F16)]
    public void EqualsTheSeparateCallsBitForBit(int threads, int rows, int length, DType dtype)
    {
        var (p, b) = Pair(rows, length, rows + length);
        using var other = KernelSelfTest.Store(p, dtype);
        using var @base = KernelSelfTest.Store(b, dtype);
        long n = (long)rows * length;
        using var cpu = new CpuMergeKernels(threads);
        using var stored = new NativeArray<float>(n);
        var klExpected = new double[rows];
        cpu.RowImportance(stored, klExpected, other.Raw, @base.Raw, length, ComputePrecision.Float32);

        using var host = new NativeArray<float>(n);
        var klActual = new double[rows];
        using var fused = cpu.ComputeImportance(host, klActual, other.Raw, @base.Raw, length, ComputePrecision.Float32);
        Assert.IsType<CpuFusedImportance>(fused);
        Assert.Equal(klExpected, klActual);

        // The quartiles, the extremes and enough other ranks for two groups of three top buckets.
        long[] ranks = [(n - 1) / 4, (n - 1) / 2, 3 * (n - 1) / 4, 0, n - 1, n / 3, n / 7, 5 * n / 6];
        var expected = new float[ranks.Length];
        var actual = new float[ranks.Length];
        cpu.SelectRanks(expected, stored, ranks);
        fused.SelectRanks(actual, ranks);
        Assert.Equal(Bits(expected), Bits(actual));

        // Chunks that start and end inside rows, at odd elements; into the inputs' dtype and converted to float32.
        foreach (var outType in new[] { dtype, DType.F32 })
        {
            using var want = new NativeArray<float>(n);
            using var got = new NativeArray<float>(n);
            want.Span.Clear();
            got.Span.Clear();
            long chunk = Math.Max(1, n / 5 + 3), takenExpected = 0, takenActual = 0;
            for (long start = 0; start < n; start += chunk)
            {
                long len = Math.Min(chunk, n - start);
                takenExpected += cpu.MaskedSelect(Raw(want, outType).Slice(start, len), other.Raw.Slice(start, len), @base.Raw.Slice(start, len), stored, start, actual[1]);
                takenActual += fused.MaskedSelect(Raw(got, outType).Slice(start, len), start, actual[1]);
            }
            Assert.Equal(takenExpected, takenActual);
            Assert.InRange(takenActual, 1, n - 1);
            Assert.Equal(want.Span.ToArray(), got.Span.ToArray());
        }

        Assert.Same(host, fused.ToHost());
        Assert.Equal(Bits(stored.Span.ToArray()), Bits(host.Span.ToArray()));
    }

    [Fact]
    public void TheQuartilesDoNotDependOnTheThreadCount()
    {
        var (p, b) = Pair(300, 129, 11);
        using var other = KernelSelfTest.Store(p, DType.BF16);
        using var @base = KernelSelfTest.Store(b, DType.BF16);
        long n = p.Length;
        long[] ranks = [(n - 1) / 4, (n - 1) / 2, 3 * (n - 1) / 4];
        var results = new List<int[]>();
        foreach (int threads in new[] { 1, 2, 5 })
        {
            using var cpu = new CpuMergeKernels(threads);
            using var host = new NativeArray<float>(n);
            using var fused = cpu.ComputeImportance(host, new double[300], other.Raw, @base.Raw, 129, ComputePrecision.Float32);
            var values = new float[3];
            fused.SelectRanks(values, ranks);
            results.Add(Bits(values));
        }
        Assert.All(results, r => Assert.Equal(results[0], r));
    }

    [Fact]
    public void ANonFiniteInputNamesTheEarliestElement()
    {
        var (p, b) = Pair(64, 1000, 3);
        p[40 * 1000 + 17] = float.NaN;
        b[9 * 1000 + 999] = float.NegativeInfinity;
        using var other = KernelSelfTest.Store(p, DType.F32);
        using var @base = KernelSelfTest.Store(b, DType.F32);
        using var cpu = new CpuMergeKernels(2);
        using var host = new NativeArray<float>(p.Length);
        var e = Assert.Throws<NonFiniteValueException>(() => cpu.ComputeImportance(host, new double[64], other.Raw, @base.Raw, 1000, ComputePrecision.Float32));
        Assert.Equal(("base", 9L * 1000 + 999), (e.Which, e.Element));
    }

    /// <summary>A float array's first n elements of <paramref name="dtype"/> (2-byte types use its first half).</summary>
    private static unsafe RawTensor Raw(NativeArray<float> array, DType dtype) => new(array.Pointer, dtype, array.Length);

    private static int[] Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits).ToArray();
}
