using Engine.Core.Numerics;
using Engine.Kernels.Cpu;
using Engine.Merge.Methods;

namespace Engine.Merge.Tests.Methods;

public sealed class KeepMaskTests
{
    [Theory]
    [InlineData(0L, 100_000L)]
    [InlineData(50_000L, 100_000L)]
    [InlineData(12_345L, 87_654L)]
    [InlineData(30_000L, 30_001L)]
    [InlineData(99_999L, 100_000L)]
    [InlineData(40_000L, 40_000L)]
    public void RankWindowKeepsStableRanksAcrossBlocksWithManyTies(long lo, long hi)
    {
        const int n = 100_000; // four blocks; ten distinct values, so every bound is tied across blocks
        var random = new Random(7);
        using var values = new NativeArray<float>(n);
        for (int i = 0; i < n; i++) values.Span[i] = random.Next(10);
        using var kernels = new CpuMergeKernels();
        var mask = KeepMask.RankWindow(values, lo, hi, kernels, CancellationToken.None);

        var order = Enumerable.Range(0, n).OrderBy(i => values.Span[i]).ThenBy(i => i).ToArray();
        var expected = new bool[n];
        for (long r = lo; r < hi; r++) expected[order[r]] = true;
        for (int i = 0; i < n; i++)
        {
            if (mask[i] != expected[i]) Assert.Fail($"element {i} (value {values.Span[i]}): expected keep={expected[i]}, actual {mask[i]}");
        }
        Assert.Equal(hi - lo, mask.Count());
    }

    [Fact]
    public void CounterRandomIsUniformAndKeyedByTensorAndStream()
    {
        var a = CounterRandom.For(1, "x", 0);
        double mean = Enumerable.Range(0, 100_000).Average(i => a.Uniform(i));
        Assert.InRange(mean, 0.497, 0.503);
        Assert.Equal(a.Uniform(5), CounterRandom.For(1, "x", 0).Uniform(5));
        Assert.NotEqual(a.Uniform(5), CounterRandom.For(1, "y", 0).Uniform(5));
        Assert.NotEqual(a.Uniform(5), CounterRandom.For(1, "x", 1).Uniform(5));
        Assert.NotEqual(a.Uniform(5), CounterRandom.For(2, "x", 0).Uniform(5));
    }
}
