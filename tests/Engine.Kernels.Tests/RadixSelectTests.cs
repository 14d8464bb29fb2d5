using Engine.Kernels.Cpu;

namespace Engine.Kernels.Tests;

public sealed class RadixSelectTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 2)]
    [InlineData(1000, 3)]
    [InlineData(300_000, 4)]
    public unsafe void MatchesSortingWithTiesNegativesAndSignedZeros(int n, int seed)
    {
        var random = new Random(seed);
        var values = new float[n];
        for (int i = 0; i < n; i++)
        {
            values[i] = (random.Next(6)) switch
            {
                0 => 0f,
                1 => -0f,
                2 => random.Next(5),
                3 => -(float)random.NextDouble(),
                _ => (float)(random.NextDouble() * 1e-3),
            };
        }
        var sorted = values.ToArray();
        Array.Sort(sorted, (a, b) => RadixSelect.ToOrderedKey(a).CompareTo(RadixSelect.ToOrderedKey(b)));
        long[] ranks = [0, (n - 1) / 4, (n - 1) / 2, 3L * (n - 1) / 4, n - 1];
        var results = new float[ranks.Length];
        fixed (float* p = values)
        {
            RadixSelect.Select(results, p, n, ranks, threads: 2);
        }
        for (int i = 0; i < ranks.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(sorted[ranks[i]]) == BitConverter.SingleToInt32Bits(results[i]), $"rank {ranks[i]} of {n} (seed {seed}): expected {sorted[ranks[i]]}, got {results[i]}");
    }
}
