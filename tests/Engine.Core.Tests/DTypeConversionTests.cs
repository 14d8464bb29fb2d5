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
            if (float.IsNaN(floats[i])) Assert.True(float.IsNaN(DTypeConversion.BFloat16ToSingle(back[i])), $"pattern {i:X4} lost NaN");
            else Assert.True(bits[i] == back[i], $"pattern {i:X4} came back as {back[i]:X4}");
        }
    }
}
