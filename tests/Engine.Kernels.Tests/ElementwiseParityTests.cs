using Engine.Kernels.Cpu;
using Engine.Kernels.Device;
using Engine.Kernels.Ilgpu;
using Engine.Kernels.Parity;

namespace Engine.Kernels.Tests;

/// <summary>The <see cref="IElementwiseKernels"/> primitives on ILGPU's CPU accelerator against the CPU reference.
/// The simulator runs the kernels' C# with the reference's operation order and no fused multiply-add, so the
/// element-wise combines must be bit-identical there (GPU PTX may contract; the self-test allows rounding).</summary>
public sealed class ElementwiseParityTests
{
    [Fact]
    public void IlgpuCpuAcceleratorMatchesTheReferenceBitForBitWhereTheOrderIsTheSame()
    {
        using var backend = IlgpuMergeKernels.CreateCpuAccelerator(threads: 2);
        using var cpu = new CpuMergeKernels(2);
        var results = new ElementwiseSelfTest(seed: 20261124, small: true).Run(backend, cpu).ToList();
        var failed = results.Where(r => !r.Passed).Select(r => $"{r.Kernel} [{r.Case}]: {r.Detail}").ToList();
        Assert.True(failed.Count == 0, string.Join("\n", failed));
        // Masks and |x - y| are exact everywhere; the rounded combines on the simulator too.
        foreach (var r in results.Where(r => ElementwiseSelfTest.RoundedKernels.Contains(r.Kernel) || r.Kernel is "abs_difference" or "random_keep_mask"))
            Assert.True(r.MaxRelativeError == 0, $"{r.Kernel} [{r.Case}]: {r.Detail}");
        Assert.Contains(results, r => r.Kernel == "gram" && r.Case.Contains("segments of 101"));
        // Columns are summed one thread each, rows in order, as on the CPU.
        Assert.All(results.Where(r => r.Kernel == "pair_sums" && r.Case.Contains("columns")), r => Assert.Equal(0, r.MaxRelativeError));
        Assert.Equal(ElementwiseSelfTest.Kernels.Order(), results.Select(r => r.Kernel).Distinct().Order());
    }

    [Fact]
    public void GramPartialsAddUpLikeTheReference()
    {
        // Two segments of two blocks each, width 4 = a 2 x 2 Gram matrix: upper triangle summed in block order, lower mirrored.
        double[] partials = [1, 2, -1, 3, 10, 20, -1, 30, 5, 6, -1, 7, 50, 60, -1, 70];
        var sums = new double[8];
        PartialSums.Add(sums, partials, segments: 2, perSegment: 2, width: 4, gram: true);
        Assert.Equal([11, 22, 22, 33, 55, 66, 66, 77], sums);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.3)]
    [InlineData(1.0)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    [InlineData(1e-300)]
    [InlineData(0.9999999999999999)]
    public void TheCpuMaskIsTheUniformDrawBelowDensity(double density)
    {
        // The CPU compares integers against ceil(density 2^53); the contract is the double comparison.
        const long n = 70_001;
        using var cpu = new CpuMergeKernels(2);
        var words = Enumerable.Repeat(ulong.MaxValue, (int)((n + 63) / 64) + 1).ToArray();
        cpu.RandomKeepMask(words, n, 0x1234_5678_9ABC_DEF0UL, density);
        for (long e = 0; e < n; e++)
        {
            bool expected = CounterHash.Uniform(0x1234_5678_9ABC_DEF0UL, e) < density;
            Assert.True(((words[e >> 6] >> (int)(e & 63)) & 1) == (expected ? 1UL : 0UL), $"element {e}, density {density}");
        }
        Assert.Equal(0UL, words[^1]);
    }
}
