using System.Buffers;
using Engine.Core.Numerics;

namespace Engine.Kernels.Cpu;

/// <summary>Float32 scratch spans for one block, rented from the shared pool and returned on dispose.</summary>
internal sealed class BlockScratch : IDisposable
{
    private readonly List<float[]> _rented = new();
    private readonly int _count;

    public BlockScratch(int count) => _count = count;

    /// <summary>An uninitialised span of the block's length.</summary>
    public Span<float> Take() => TakeArray().AsSpan(0, _count);

    /// <summary>An uninitialised array of at least the block's length (for lists of rows).</summary>
    public float[] TakeArray()
    {
        var array = ArrayPool<float>.Shared.Rent(Math.Max(1, _count));
        _rented.Add(array);
        return array;
    }

    /// <summary><see cref="Read"/> into an array of at least the block's length.</summary>
    public float[] ReadArray(RawTensor tensor, long start)
    {
        var array = TakeArray();
        tensor.ReadSingles(start, array.AsSpan(0, _count));
        return array;
    }

    /// <summary>Elements [start, start + count) of <paramref name="tensor"/> as float32.</summary>
    public Span<float> Read(RawTensor tensor, long start)
    {
        var span = Take();
        tensor.ReadSingles(start, span);
        return span;
    }

    public void Dispose()
    {
        foreach (var a in _rented) ArrayPool<float>.Shared.Return(a);
        _rented.Clear();
    }
}
