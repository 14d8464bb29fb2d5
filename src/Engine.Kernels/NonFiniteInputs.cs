using Engine.Core.Numerics;

namespace Engine.Kernels;

/// <summary>Which input a non-finite value is reported against, by the CPU reference's rule; the GPU backends
/// find the first bad element on the device and raise the same error through these.</summary>
internal static class NonFiniteInputs
{
    /// <summary>The error for the smallest element whose difference is not finite (none: ulong.MaxValue): "base"
    /// when the base's element is not finite, else "other".</summary>
    public static void ThrowIfAny(ulong firstBad, RawTensor @base)
    {
        if (firstBad == ulong.MaxValue) return;
        Span<float> value = stackalloc float[1];
        @base.ReadSingles((long)firstBad, value);
        throw new NonFiniteValueException(float.IsFinite(value[0]) ? "other" : "base", (long)firstBad);
    }

    /// <summary>The row importance's rule: the first row holding a bad element (none: ulong.MaxValue); within it,
    /// other before base.</summary>
    public static void ThrowIfAnyInRows(ulong firstOther, ulong firstBase, int rowLength)
    {
        if (firstOther == ulong.MaxValue && firstBase == ulong.MaxValue) return;
        if (firstOther != ulong.MaxValue && (firstBase == ulong.MaxValue || firstOther / (ulong)rowLength <= firstBase / (ulong)rowLength))
            throw new NonFiniteValueException("other", (long)firstOther);
        throw new NonFiniteValueException("base", (long)firstBase);
    }
}
