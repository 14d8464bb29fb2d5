using Engine.Core;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Kernels.Cpu;

namespace Engine.Merge.Tests;

/// <summary>The CPU importance kernel against the float64 reference formula.</summary>
public sealed class ArceeFusionKernelTests
{
    [Theory]
    [InlineData(1, 1, 1e-2f, 1)]
    [InlineData(5, 1, 1e-2f, 2)]
    [InlineData(3, 7, 1e-2f, 3)]
    [InlineData(16, 33, 1e-3f, 4)]
    [InlineData(8, 896, 1e-3f, 5)]
    [InlineData(4, 257, 0.5f, 6)]
    [InlineData(2, 4864, 1e-4f, 7)]
    public unsafe void ImportanceMatchesFloat64Reference(int rows, int rowLength, float deltaScale, int seed)
    {
        var random = new Random(seed);
        int n = rows * rowLength;
        var b = Engine.Testing.TestModels.RandomValues(random, n, 0.05f);
        var p = b.Select(v => v + (float)(random.NextDouble() * 2 - 1) * deltaScale).ToArray();
        var (reference, _, _) = ArceeFusionReference.Merge(p, b, rowLength);

        using var importance = new NativeArray<float>(n);
        var kl = new double[rows];
        fixed (float* pp = p, pb = b)
        {
            new CpuMergeKernels(2).RowImportance(importance, kl, new RawTensor(pp, DType.F32, n), new RawTensor(pb, DType.F32, n), rowLength, ComputePrecision.Float32);
        }
        for (int i = 0; i < n; i++)
        {
            double expected = reference[i], actual = importance.Span[i];
            double tolerance = 1e-30 + Math.Abs(expected) * 1e-5;
            Assert.True(Math.Abs(actual - expected) <= tolerance, $"element {i} (row {i / rowLength}, seed {seed}): expected {expected:R}, got {actual:R}");
        }
    }

    [Fact]
    public void KlTermsAreAccurateAcrossTheSeriesBoundary()
    {
        float[] u = [0f, 1e-6f, -1e-6f, 0.0999f, 0.1f, -0.0999f, -0.1f, 0.5f, -0.5f, 3f, -0.9f, 1e-3f, -1e-3f, 0.05f, -0.05f, 2e-2f, 7f];
        var f = new float[u.Length];
        RowImportanceCpuAccess.KlTerms(f, u);
        for (int i = 0; i < u.Length; i++)
        {
            double x = u[i];
            double expected = Math.Abs(x) < 1e-3 ? x * x / 2 - x * x * x / 6 + x * x * x * x / 12 : (1 + x) * Math.Log(1 + x) - x;
            Assert.True(Math.Abs(f[i] - expected) <= 1e-30 + Math.Abs(expected) * 1e-5, $"u={x}: expected {expected:R}, got {f[i]:R}");
        }
    }

    [Fact]
    public unsafe void NonFiniteInputNamesTheElement()
    {
        var b = new float[] { 1, 2, 3, 4 };
        var p = new float[] { 1, float.NaN, 3, 4 };
        using var importance = new NativeArray<float>(4);
        var e = Assert.Throws<NonFiniteValueException>(() =>
        {
            fixed (float* pp = p, pb = b)
            {
                new CpuMergeKernels(1).RowImportance(importance, new double[2], new RawTensor(pp, DType.F32, 4), new RawTensor(pb, DType.F32, 4), 2, ComputePrecision.Float32);
            }
        });
        Assert.Equal("other", e.Which);
        Assert.Equal(1, e.Element);
    }
}
