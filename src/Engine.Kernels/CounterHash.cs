namespace Engine.Kernels;

/// <summary>The counter-based random draw behind DARE and DELLA drops: the draw for element i of a stream is a
/// pure function of the stream's key and i, so every backend, thread count and chunking gives the same bits.
/// The mix is SplitMix64's finaliser (Steele, Lea and Flood 2014), applied to the key plus i times the golden
/// ratio increment; <c>kernels/cuda/elementwise.cu</c> and the ILGPU kernels repeat it.</summary>
public static class CounterHash
{
    /// <summary>The golden-ratio increment of SplitMix64.</summary>
    public const ulong Golden = 0x9E3779B97F4A7C15UL;

    /// <summary>SplitMix64's finaliser.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A uniform double in [0, 1) with 53 random bits for element <paramref name="index"/> of the
    /// stream <paramref name="key"/>.</summary>
    public static double Uniform(ulong key, long index) => (Mix(key + (ulong)index * Golden) >> 11) * (1.0 / (1UL << 53));
}
