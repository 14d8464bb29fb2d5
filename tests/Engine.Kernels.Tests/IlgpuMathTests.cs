using Engine.Kernels.Ilgpu;

namespace Engine.Kernels.Tests;

/// <summary>The hand-written scalar math the ILGPU kernels (and, by the same formulas, the CUDA kernels) use,
/// against .NET's own conversions and math.</summary>
public sealed class IlgpuMathTests
{
    [Fact]
    public void HalfToSingleIsExactForEveryHalf()
    {
        for (int h = 0; h < 65536; h++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            float actual = IlgpuMath.HalfToSingle((ushort)h);
            if (float.IsNaN(expected)) Assert.True(float.IsNaN(actual), $"half 0x{h:X4}");
            else Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual), $"half 0x{h:X4}: expected {expected:R}, got {actual:R}");
        }
    }

    [Fact]
    public void SingleToHalfRoundsToNearestEvenLikeDotNet()
    {
        var random = new Random(11);
        var probes = new List<float> { 0f, -0f, 65504f, 65519.99f, 65520f, -65520f, 5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f, 6.1035156e-5f, 6.1035152e-5f, 1e-10f, float.MaxValue, float.PositiveInfinity, float.NegativeInfinity };
        for (int h = 0; h < 65536; h += 1)
        {
            float v = (float)BitConverter.UInt16BitsToHalf((ushort)h);
            if (!float.IsFinite(v)) continue;
            uint bits = BitConverter.SingleToUInt32Bits(v);
            probes.Add(v);
            probes.Add(BitConverter.UInt32BitsToSingle(bits + 0x1000));  // halfway to the next half (ties)
            probes.Add(BitConverter.UInt32BitsToSingle(bits + 0x0FFF));
            probes.Add(BitConverter.UInt32BitsToSingle(bits + 0x1001));
        }
        for (int i = 0; i < 100_000; i++) probes.Add(BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32)));
        foreach (float v in probes)
        {
            if (float.IsNaN(v)) continue;
            ushort expected = BitConverter.HalfToUInt16Bits((Half)v);
            ushort actual = IlgpuMath.SingleToHalf(v);
            Assert.True(expected == actual, $"{v:R} (0x{BitConverter.SingleToUInt32Bits(v):X8}): expected 0x{expected:X4}, got 0x{actual:X4}");
        }
    }

    [Fact]
    public void ExpIsWithinTwoUlpsAndLogWithinFourUlps()
    {
        var random = new Random(5);
        for (int i = 0; i < 200_000; i++)
        {
            float x = (float)(random.NextDouble() * 180 - 100);
            double exact = Math.Exp(x);
            float actual = IlgpuMath.Exp(x);
            if (exact < 1.2e-38) continue;  // subnormal results: absolute error only
            Assert.True(Math.Abs(actual - exact) <= 2.5 * Ulp((float)exact), $"exp({x:R}): {actual:R} vs {exact:R}");
            double s = Math.Exp(random.NextDouble() * 1400 - 700);
            Assert.True(Math.Abs(IlgpuMath.Log(s) - Math.Log(s)) <= 4 * Math.BitIncrement(Math.Abs(Math.Log(s))) - 4 * Math.Abs(Math.Log(s)) + 1e-300, $"log({s:R})");
        }
    }

    [Fact]
    public void OrderedKeyMatchesTheCpuRadixSelect()
    {
        foreach (float v in new[] { 0f, -0f, 1f, -1f, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue, float.PositiveInfinity, float.NegativeInfinity })
            Assert.Equal(Cpu.RadixSelect.ToOrderedKey(v), IlgpuMath.OrderedKey(v));
    }

    private static double Ulp(float v) => Math.Abs((double)MathF.BitIncrement(Math.Abs(v)) - Math.Abs(v));

    [Fact]
    public void ExpRoundedMatchesTheCorrectlyRoundedExpOnSampledFloat32s()
    {
        // Every 97th float32 bit pattern within [-104, 89] (about 23M values): against exp in float64 rounded once.
        int mismatches = 0;
        string first = "";
        for (uint bits = 0; bits < 0x8000_0000u; bits += 97)
        {
            foreach (float x in new[] { BitConverter.UInt32BitsToSingle(bits), -BitConverter.UInt32BitsToSingle(bits) })
            {
                if (!(x >= -104f && x <= 89f)) continue;
                float expected = (float)Math.Exp(x), actual = IlgpuMath.ExpRounded(x);
                if (BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual)) continue;
                if (mismatches++ == 0) first = $"exp({x:R}): expected {expected:R}, got {actual:R}";
            }
        }
        // Only a float64 value within 1e-16 of a float32 rounding boundary may round the other way.
        Assert.True(mismatches <= 2, $"{mismatches} mismatches; first {first}");
        Assert.Equal(0f, IlgpuMath.ExpRounded(-105f));
        Assert.Equal(float.PositiveInfinity, IlgpuMath.ExpRounded(89.5f));
        Assert.Equal(float.PositiveInfinity, IlgpuMath.ExpRounded(88.8f));
        Assert.Equal(1f, IlgpuMath.ExpRounded(0f));
        Assert.Equal(1f, IlgpuMath.ExpRounded(-0f));
        Assert.True(float.IsNaN(IlgpuMath.ExpRounded(float.NaN)));
    }

    [Fact]
    public void LogRoundedMatchesTheCorrectlyRoundedLogOnSampledFloat32s()
    {
        var random = new Random(12);
        int mismatches = 0;
        for (int i = 0; i < 2_000_000; i++)
        {
            float x = BitConverter.Int32BitsToSingle(random.Next(1, 0x7F80_0000));  // every positive finite float, subnormals too
            float expected = (float)Math.Log(x), actual = IlgpuMath.LogRounded(x);
            if (BitConverter.SingleToInt32Bits(expected) != BitConverter.SingleToInt32Bits(actual)) mismatches++;
        }
        Assert.True(mismatches <= 2, $"{mismatches} of 2M differ from (float)Math.Log");
        Assert.Equal(float.PositiveInfinity, IlgpuMath.LogRounded(float.PositiveInfinity));
        Assert.Equal(float.NegativeInfinity, IlgpuMath.LogRounded(0f));
        Assert.True(float.IsNaN(IlgpuMath.LogRounded(-1f)));
        Assert.Equal(0f, IlgpuMath.LogRounded(1f));
    }
}
