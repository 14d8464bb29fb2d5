using System.Runtime.InteropServices;
using Engine.Core.Numerics;

namespace Engine.Core.Tests;

public sealed class DTypeConversionTests
{
    [Fact]
    public void EveryBFloat16PatternRoundTripsThroughFloat32()
    {
        var bits = new ushort[65536];
        for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)i;
        var floats = new float[bits.Length];
        DTypeConversion.BFloat16ToSingle(bits, floats);
        var back = new ushort[bits.Length];
        DTypeConversion.SingleToBFloat16(floats, back);
        for (int i = 0; i < bits.Length; i++)
        {
            Assert.Equal(BitConverter.Int32BitsToSingle(i << 16), floats[i]);
            if (float.IsNaN(floats[i])) Assert.True(back[i] == (i | 0x0040), $"NaN pattern {i:X4} came back as {back[i]:X4}, not its quietened self");
            else Assert.True(bits[i] == back[i], $"pattern {i:X4} came back as {back[i]:X4}");
        }
    }

    /// <summary>float32 bits and the bf16 bits round-to-nearest-even gives: exact halves go to the even neighbour.</summary>
    [Theory]
    [InlineData(0x3F80_0000u, 0x3F80)] // 1.0 exact
    [InlineData(0x3F80_7FFFu, 0x3F80)] // just under half an ulp: down
    [InlineData(0x3F80_8000u, 0x3F80)] // tie, 0x3F80 even: down
    [InlineData(0x3F80_8001u, 0x3F81)] // just over half: up
    [InlineData(0x3F81_8000u, 0x3F82)] // tie, 0x3F81 odd: up to even
    [InlineData(0xBF81_8000u, 0xBF82)] // negative tie, odd: away from zero to even
    [InlineData(0xBF80_8000u, 0xBF80)] // negative tie, even
    [InlineData(0x0000_8000u, 0x0000)] // subnormal tie to +0
    [InlineData(0x0001_8000u, 0x0002)] // subnormal tie, odd: up
    [InlineData(0x8000_0000u, 0x8000)] // -0 stays -0
    [InlineData(0x7F7F_7FFFu, 0x7F7F)] // largest value that stays finite
    [InlineData(0x7F7F_8000u, 0x7F80)] // max float: tie on odd rounds up to +inf
    [InlineData(0xFF7F_FFFFu, 0xFF80)] // -max float rounds to -inf
    [InlineData(0x7F80_0000u, 0x7F80)] // +inf stays +inf
    [InlineData(0xFF80_0000u, 0xFF80)] // -inf stays -inf
    [InlineData(0x7FC0_0000u, 0x7FC0)] // quiet NaN
    [InlineData(0xFFC0_0000u, 0xFFC0)] // negative quiet NaN keeps its sign
    [InlineData(0x7F80_0001u, 0x7FC0)] // signalling NaN, payload only in the low half: must not become inf
    [InlineData(0x7FFF_FFFFu, 0x7FFF)] // NaN with full payload: rounding must not carry into the sign
    public void SingleToBFloat16RoundsToNearestEvenAndKeepsSpecials(uint single, int expected)
    {
        float f = BitConverter.UInt32BitsToSingle(single);
        Assert.Equal((ushort)expected, DTypeConversion.SingleToBFloat16(f));
        // The vector path: the value at every lane of a 16-wide block and in the scalar tail.
        var source = Enumerable.Repeat(f, 37).ToArray();
        var destination = new ushort[37];
        DTypeConversion.SingleToBFloat16(source, destination);
        Assert.All(destination, d => Assert.Equal((ushort)expected, d));
    }

    [Fact]
    public void VectorPathsMatchTheScalarReferenceForLengths0To257()
    {
        var random = new Random(1234);
        for (int n = 0; n <= 257; n++)
        {
            var floats = new float[n];
            for (int i = 0; i < n; i++)
            {
                // Random bit patterns cover NaNs, infinities, subnormals and ties; every eighth value is an exact tie.
                uint u = (uint)random.NextInt64(0, 1L << 32);
                floats[i] = BitConverter.UInt32BitsToSingle(i % 8 == 0 ? (u & 0xFFFF_0000u) | 0x8000u : u);
            }
            var bf = new ushort[n + 3];
            bf.AsSpan(n).Fill(0xABCD);
            DTypeConversion.SingleToBFloat16(floats, bf);
            for (int i = 0; i < n; i++)
                Assert.True(DTypeConversion.SingleToBFloat16(floats[i]) == bf[i], $"n={n} i={i} input {BitConverter.SingleToUInt32Bits(floats[i]):X8}: scalar {DTypeConversion.SingleToBFloat16(floats[i]):X4}, vector {bf[i]:X4}");
            Assert.All(bf[n..], b => Assert.Equal(0xABCD, b));

            var widened = new float[n + 3];
            widened.AsSpan(n).Fill(-7f);
            DTypeConversion.BFloat16ToSingle(bf.AsSpan(0, n), widened);
            for (int i = 0; i < n; i++)
                Assert.Equal(BitConverter.SingleToUInt32Bits(DTypeConversion.BFloat16ToSingle(bf[i])), BitConverter.SingleToUInt32Bits(widened[i]));
            Assert.All(widened[n..], w => Assert.Equal(-7f, w));

            var bytes = new byte[n * 2];
            DTypeConversion.FromSingle(floats, DType.F16, bytes);
            var halves = MemoryMarshal.Cast<byte, Half>(bytes);
            for (int i = 0; i < n; i++)
            {
                var expected = (Half)floats[i];
                Assert.True(Half.IsNaN(expected) ? Half.IsNaN(halves[i]) : BitConverter.HalfToUInt16Bits(expected) == BitConverter.HalfToUInt16Bits(halves[i]),
                    $"n={n} i={i} input {BitConverter.SingleToUInt32Bits(floats[i]):X8}: expected f16 {BitConverter.HalfToUInt16Bits(expected):X4}, got {BitConverter.HalfToUInt16Bits(halves[i]):X4}");
            }
        }
    }

    [Fact]
    public void ConversionsRejectShortDestinations()
    {
        Assert.Throws<ArgumentException>(() => DTypeConversion.BFloat16ToSingle(new ushort[17], new float[16]));
        Assert.Throws<ArgumentException>(() => DTypeConversion.SingleToBFloat16(new float[17], new ushort[16]));
        Assert.Throws<NotSupportedException>(() => DTypeConversion.ToSingle(new byte[4], DType.I32, new float[1]));
        Assert.Throws<NotSupportedException>(() => DTypeConversion.FromSingle(new float[1], DType.U8, new byte[1]));
    }

    [Fact]
    public void EveryFloat16PatternRoundTripsThroughFloat32()
    {
        var bits = new ushort[65536];
        for (int i = 0; i < bits.Length; i++) bits[i] = (ushort)i;
        var floats = new float[bits.Length];
        DTypeConversion.ToSingle(MemoryMarshal.AsBytes(bits.AsSpan()), DType.F16, floats);
        var back = new byte[bits.Length * 2];
        DTypeConversion.FromSingle(floats, DType.F16, back);
        var backBits = MemoryMarshal.Cast<byte, ushort>(back);
        for (int i = 0; i < bits.Length; i++)
        {
            Half h = BitConverter.UInt16BitsToHalf((ushort)i);
            if (Half.IsNaN(h))
            {
                Assert.True(float.IsNaN(floats[i]), $"f16 NaN {i:X4} widened to {floats[i]}");
                Assert.True(Half.IsNaN(BitConverter.UInt16BitsToHalf(backBits[i])), $"f16 NaN {i:X4} came back as {backBits[i]:X4}");
                Assert.Equal(i & 0x8000, backBits[i] & 0x8000);
            }
            else
            {
                Assert.Equal((float)h, floats[i]);
                Assert.True(backBits[i] == i, $"f16 pattern {i:X4} came back as {backBits[i]:X4}");
            }
        }
    }

    [Theory]
    [InlineData(1.00048828125f, 0x3C00)] // 1 + 2^-11, a tie: down to even 1.0
    [InlineData(1.00146484375f, 0x3C02)] // 1 + 3 * 2^-11, a tie: up to even
    [InlineData(65504f, 0x7BFF)] // largest finite f16
    [InlineData(65519.996f, 0x7BFF)] // just under the tie with infinity
    [InlineData(65520f, 0x7C00)] // the tie rounds to infinity
    [InlineData(float.PositiveInfinity, 0x7C00)]
    [InlineData(float.NegativeInfinity, 0xFC00)]
    [InlineData(5.9604645e-8f, 0x0001)] // smallest subnormal
    [InlineData(2.9802322e-8f, 0x0000)] // half of it: a tie to +0
    [InlineData(-0f, 0x8000)]
    public void SingleToFloat16RoundsToNearestEven(float value, int expected)
    {
        var source = Enumerable.Repeat(value, 35).ToArray();
        var bytes = new byte[source.Length * 2];
        DTypeConversion.FromSingle(source, DType.F16, bytes);
        Assert.All(MemoryMarshal.Cast<byte, ushort>(bytes).ToArray(), b => Assert.Equal((ushort)expected, b));
    }

    [Fact]
    public void Float16NaNStaysNaN()
    {
        var source = new[] { float.NaN, -float.NaN, BitConverter.UInt32BitsToSingle(0x7F80_0001u), BitConverter.UInt32BitsToSingle(0xFF80_2000u) };
        var bytes = new byte[source.Length * 2];
        DTypeConversion.FromSingle(source, DType.F16, bytes);
        foreach (var b in MemoryMarshal.Cast<byte, Half>(bytes).ToArray()) Assert.True(Half.IsNaN(b), $"{BitConverter.HalfToUInt16Bits(b):X4} is not NaN");
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void WideTypesConvertExactly(DType dtype)
    {
        var values = new[] { 0f, -0f, 1.5f, float.MaxValue, float.Epsilon, float.PositiveInfinity, float.NegativeInfinity, 3.14159274f };
        var bytes = new byte[values.Length * dtype.SizeOf()];
        DTypeConversion.FromSingle(values, dtype, bytes);
        var back = new float[values.Length];
        DTypeConversion.ToSingle(bytes, dtype, back);
        Assert.Equal(values.Select(BitConverter.SingleToUInt32Bits), back.Select(BitConverter.SingleToUInt32Bits));
    }
}
