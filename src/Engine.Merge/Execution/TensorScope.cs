using Engine.Core;
using Engine.Core.Diagnostics;
using Engine.Core.Model;
using Engine.Core.Numerics;

namespace Engine.Merge.Execution;

/// <summary>Everything one output tensor's evaluation holds (input bytes, converted copies, intermediate
/// results), released together when the tensor is done.</summary>
internal sealed class TensorScope : IDisposable
{
    private readonly List<IDisposable> _owned = new();
    private readonly Dictionary<(MergeStage, string), RawTensor> _stages = new();
    private readonly ProfileTrace? _trace;

    public TensorScope(ProfileTrace? trace = null, ScratchArena? scratch = null)
    {
        _trace = trace;
        Scratch = scratch;
    }

    /// <summary>The worker's reusable scratch (null: methods allocate their own).</summary>
    public ScratchArena? Scratch { get; }

    public T Own<T>(T item) where T : IDisposable
    {
        _owned.Add(item);
        return item;
    }

    /// <summary>An input tensor's bytes, read from its file into the worker's scratch.</summary>
    public unsafe RawTensor Read(ModelTensor tensor)
    {
        using var span = _trace.Span("read", "read", tensor.Name);
        var bytes = Own(tensor.Read(Scratch));
        return new RawTensor(bytes.Pointer, tensor.Info.DType, tensor.Info.ElementCount);
    }

    /// <summary>A stage's tensor <paramref name="name"/>, computed once however many later stages (or slice
    /// sources) use it.</summary>
    public RawTensor Cached(MergeStage stage, string name, Func<RawTensor> compute)
    {
        if (!_stages.TryGetValue((stage, name), out var raw)) _stages[(stage, name)] = raw = compute();
        return raw;
    }

    /// <summary>A copy of <paramref name="source"/> cast to <paramref name="dtype"/> (mergekit's <c>dtype</c>).</summary>
    public unsafe RawTensor Convert(RawTensor source, DType dtype)
    {
        using var span = _trace.Span("convert", "convert", $"{source.DType} -> {dtype}, {source.Length} elements");
        var copy = Own(new NativeArray<byte>(source.Length * dtype.SizeOf()));
        var target = new RawTensor(copy.Pointer, dtype, source.Length);
        const int block = 1 << 20;
        var buffer = new float[block];
        for (long at = 0; at < source.Length; at += block)
        {
            int n = (int)Math.Min(block, source.Length - at);
            source.ReadSingles(at, buffer.AsSpan(0, n));
            target.WriteSingles(at, buffer.AsSpan(0, n));
        }
        return target;
    }

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
    }
}
