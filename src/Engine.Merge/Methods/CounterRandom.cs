using Engine.Kernels;

namespace Engine.Merge.Methods;

/// <summary>A counter-based random stream: the draw for element i is a pure function of (config seed, tensor
/// name, stream, i), so DARE and DELLA drops repeat bit-identically on every run, thread count, chunking and
/// kernel backend. The stream's key is a hash of the seed, the tensor name and the stream; the draws are
/// <see cref="CounterHash.Uniform"/>.</summary>
public readonly struct CounterRandom
{
    private CounterRandom(ulong key) => Key = key;

    /// <summary>The key the kernels draw with (<see cref="IElementwiseKernels.RandomKeepMask"/>).</summary>
    public ulong Key { get; }

    /// <summary>The stream for one model (<paramref name="stream"/>) of one tensor.</summary>
    public static CounterRandom For(int seed, string tensorName, int stream)
    {
        ulong h = 14695981039346656037UL;
        foreach (char c in tensorName) h = (h ^ c) * 1099511628211UL;
        return new CounterRandom(CounterHash.Mix(CounterHash.Mix(h ^ (uint)seed) + (ulong)stream * CounterHash.Golden));
    }

    /// <summary>A uniform double in [0, 1) with 53 random bits for element <paramref name="index"/>.</summary>
    public double Uniform(long index) => CounterHash.Uniform(Key, index);
}
