using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Engine.Core;
using Engine.Core.Numerics;

namespace Engine.Merge.Execution;

/// <summary>Finds NaN or infinity in stored floats by their exponent bits (all ones), without converting:
/// every method's inputs are checked so a corrupt weight is an error naming the tensor, never a silently
/// poisoned output.</summary>
internal static class FiniteCheck
{
    private const int Block = 1 << 20;

    /// <summary>The index of the first non-finite element, or -1.</summary>
    public static long FirstNonFinite(RawTensor tensor, int threads)
    {
        (uint mask, int size) = tensor.DType switch
        {
            DType.BF16 => (0x7F80u, 2),
            DType.F16 => (0x7C00u, 2),
            DType.F32 => (0x7F80_0000u, 4),
            _ => (0u, 0),
        };
        if (size == 0) return -1;
        long blocks = (tensor.Length + Block - 1) / Block;
        long first = long.MaxValue;
        Parallel.For(0L, blocks, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) }, b =>
        {
            long start = b * Block;
            int count = (int)Math.Min(Block, tensor.Length - start);
            var bytes = tensor.Bytes(start, count);
            int at = size == 2 ? Scan(MemoryMarshal.Cast<byte, ushort>(bytes), (ushort)mask) : Scan(MemoryMarshal.Cast<byte, uint>(bytes), mask);
            if (at >= 0)
            {
                long index = start + at;
                long seen;
                while (index < (seen = Interlocked.Read(ref first)) && Interlocked.CompareExchange(ref first, index, seen) != seen) { }
            }
        });
        return first == long.MaxValue ? -1 : first;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static int Scan<T>(ReadOnlySpan<T> bits, T mask) where T : unmanaged, System.Numerics.IBinaryInteger<T>
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var m = Vector256.Create(mask);
            ref T r = ref MemoryMarshal.GetReference(bits);
            for (; i <= bits.Length - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                if (Vector256.EqualsAny(Vector256.LoadUnsafe(ref r, (nuint)i) & m, m)) break;
            }
        }
        for (; i < bits.Length; i++)
        {
            if ((bits[i] & mask) == mask) return i;
        }
        return -1;
    }
}
