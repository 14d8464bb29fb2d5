using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Engine.Core.Numerics;

/// <summary>Vectorised conversions between the stored dtypes (BF16, F16, F32) and float32.
/// float32 to bf16 rounds to nearest even; NaN stays NaN (quietened), infinities stay infinite.</summary>
public static class DTypeConversion
{
    /// <summary>bf16 bits to float32: the bits are the float's top half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float BFloat16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>float32 to bf16 bits, round to nearest even, NaN kept NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort SingleToBFloat16(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7FFF_FFFFu) > 0x7F80_0000u) return (ushort)((u >> 16) | 0x0040u);
        return (ushort)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    }

    /// <summary>The float32 value nearest <paramref name="value"/> that bf16 can hold (round to nearest even):
    /// how torch's bf16 ops round each result.</summary>
    /// <remarks>Every NaN becomes the positive quiet NaN 0x7FC00000: the bf16 emulation's NaNs (a finite input
    /// that overflows bf16, then inf - inf) then carry the same bits on the CPU (whose arithmetic NaN is negative)
    /// and on GPUs (positive), and rank alike in exact quantiles.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float RoundToBFloat16(float value) => float.IsNaN(value) ? BitConverter.UInt32BitsToSingle(0x7FC0_0000u) : BFloat16ToSingle(SingleToBFloat16(value));

    /// <summary>Widens bf16 bit patterns to float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BFloat16ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination too short", nameof(destination));
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref ushort src = ref MemoryMarshal.GetReference(source);
            ref uint dst = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(destination));
            for (; i <= source.Length - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                var v = Vector256.LoadUnsafe(ref src, (nuint)i);
                var (lo, hi) = Vector256.Widen(v);
                Vector256.ShiftLeft(lo, 16).StoreUnsafe(ref dst, (nuint)i);
                Vector256.ShiftLeft(hi, 16).StoreUnsafe(ref dst, (nuint)(i + Vector256<uint>.Count));
            }
        }
        for (; i < source.Length; i++) destination[i] = BFloat16ToSingle(source[i]);
    }

    /// <summary>Narrows float32 to bf16 bit patterns, round to nearest even, NaN kept NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SingleToBFloat16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination too short", nameof(destination));
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref uint src = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(source));
            ref ushort dst = ref MemoryMarshal.GetReference(destination);
            var absMask = Vector256.Create(0x7FFF_FFFFu);
            var infBits = Vector256.Create(0x7F80_0000u);
            var bias = Vector256.Create(0x7FFFu);
            var one = Vector256.Create(1u);
            var quiet = Vector256.Create(0x0040u);
            for (; i <= source.Length - Vector256<ushort>.Count; i += Vector256<ushort>.Count)
            {
                var a = Vector256.LoadUnsafe(ref src, (nuint)i);
                var b = Vector256.LoadUnsafe(ref src, (nuint)(i + Vector256<uint>.Count));
                Vector256.Narrow(Round(a), Round(b)).StoreUnsafe(ref dst, (nuint)i);
            }

            Vector256<uint> Round(Vector256<uint> u)
            {
                var rounded = Vector256.ShiftRightLogical(u + bias + (Vector256.ShiftRightLogical(u, 16) & one), 16);
                var nan = Vector256.ShiftRightLogical(u, 16) | quiet;
                var isNan = Vector256.GreaterThan(u & absMask, infBits);
                return Vector256.ConditionalSelect(isNan, nan, rounded);
            }
        }
        for (; i < source.Length; i++) destination[i] = SingleToBFloat16(source[i]);
    }

    /// <summary>Converts the stored elements of <paramref name="dtype"/> in <paramref name="source"/> to float32, one per destination element.</summary>
    public static void ToSingle(ReadOnlySpan<byte> source, DType dtype, Span<float> destination)
    {
        switch (dtype)
        {
            case DType.F32:
                MemoryMarshal.Cast<byte, float>(source).CopyTo(destination);
                break;
            case DType.BF16:
                BFloat16ToSingle(MemoryMarshal.Cast<byte, ushort>(source), destination);
                break;
            case DType.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(source), destination);
                break;
            case DType.F64:
                var d = MemoryMarshal.Cast<byte, double>(source);
                for (int i = 0; i < d.Length; i++) destination[i] = (float)d[i];
                break;
            default:
                throw new NotSupportedException($"dtype {dtype} has no float32 conversion");
        }
    }

    /// <summary>Converts float32 values to stored elements of <paramref name="dtype"/>.</summary>
    public static void FromSingle(ReadOnlySpan<float> source, DType dtype, Span<byte> destination)
    {
        switch (dtype)
        {
            case DType.F32:
                source.CopyTo(MemoryMarshal.Cast<byte, float>(destination));
                break;
            case DType.BF16:
                SingleToBFloat16(source, MemoryMarshal.Cast<byte, ushort>(destination));
                break;
            case DType.F16:
                TensorPrimitives.ConvertToHalf(source, MemoryMarshal.Cast<byte, Half>(destination));
                break;
            case DType.F64:
                var d = MemoryMarshal.Cast<byte, double>(destination);
                for (int i = 0; i < source.Length; i++) d[i] = source[i];
                break;
            default:
                throw new NotSupportedException($"dtype {dtype} has no float32 conversion");
        }
    }
}
