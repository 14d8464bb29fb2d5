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

    [Theory]
    [InlineData(0f)]
    [InlineData(1e-3f)]
    public void TheCpuRamPlusCombineIsTheContractsFormulaElementByElement(float epsilon)
    {
        // 1,003 elements (vector body and scalar tail), deltas of exactly zero, signed zeros, NaN and infinities.
        const int n = 1_003;
        var random = new Random(17);
        float[] special = [0f, -0f, float.NaN, float.PositiveInfinity, 1e-3f, -1e-3f, 5e-4f];
        var b = new float[n];
        var models = new float[3][];
        for (int e = 0; e < n; e++) b[e] = random.Next(40) == 0 ? -0f : (float)(random.NextDouble() * 2 - 1) * 0.05f;
        for (int i = 0; i < 3; i++)
        {
            models[i] = new float[n];
            for (int e = 0; e < n; e++)
                models[i][e] = random.Next(8) switch { 0 => b[e], 1 => special[random.Next(special.Length)], _ => b[e] + (float)(random.NextDouble() * 2 - 1) * 0.004f };
        }
        float[] lambda = [1.25f, 0.5f, 1.1f];
        using var @base = KernelSelfTest.Store(b, Engine.Core.DType.F32);
        var stored = models.Select(m => KernelSelfTest.Store(m, Engine.Core.DType.F32)).ToArray();
        using var output = new Engine.Core.Numerics.NativeArray<float>(n);
        using (var cpu = new CpuMergeKernels(2))
            cpu.AmplifiedCountedAverage(output.AsRaw(Engine.Core.DType.F32), stored.Select(s => s.Raw).ToArray(), @base.Raw, lambda, epsilon);
        for (int e = 0; e < n; e++)
        {
            int count = models.Count(m => MathF.Abs(m[e] - b[e]) > epsilon);
            float sum = 0;
            for (int i = 0; i < 3; i++)
            {
                float d = models[i][e] - b[e];
                if (MathF.Abs(d) > epsilon) sum += count == 1 ? d * lambda[i] : d / count;
            }
            float expected = b[e] + sum;
            Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(output.Span[e]) || (float.IsNaN(expected) && float.IsNaN(output.Span[e])),
                $"element {e}: expected {expected:R}, got {output.Span[e]:R}");
        }
        foreach (var s in stored) s.Dispose();
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
