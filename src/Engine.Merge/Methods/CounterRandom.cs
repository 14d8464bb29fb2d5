namespace Engine.Merge.Methods;

/// <summary>A counter-based random stream: the draw for element i is a pure function of (config seed, tensor
/// name, stream, i), so DARE and DELLA drops repeat bit-identically on every run, thread count and chunking.
/// The mix is SplitMix64's finaliser (Steele, Lea and Flood 2014), applied to the key plus i times the golden
/// ratio increment.</summary>
public readonly struct CounterRandom
{
    private const ulong Golden = 0x9E3779B97F4A7C15UL;
    private readonly ulong _key;

    private CounterRandom(ulong key) => _key = key;

    /// <summary>The stream for one model (<paramref name="stream"/>) of one tensor.</summary>
    public static CounterRandom For(int seed, string tensorName, int stream)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in tensorName) h = (h ^ c) * 1099511628211UL;
        return new CounterRandom(Mix(Mix(h ^ (uint)seed) + (ulong)stream * Golden));
    }

    /// <summary>A uniform double in [0, 1) with 53 random bits for element <paramref name="index"/>.</summary>
    public double Uniform(long index) => (Mix(_key + (ulong)index * Golden) >> 11) * (1.0 / (1UL << 53));

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
