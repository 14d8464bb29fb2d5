using Engine.Core;
using Engine.Core.Diagnostics;
using Engine.Core.Model;
using Engine.Core.Numerics;
using Engine.Core.Safetensors;

namespace Engine.Merge.Execution;

/// <summary>Everything one output tensor's evaluation holds (input bytes, converted copies, intermediate
/// results), released together when the tensor is done.</summary>
internal sealed class TensorScope : IDisposable
{
    private readonly List<IDisposable> _owned = new();
    private readonly Dictionary<(MergeStage, string), RawTensor> _stages = new();
    private readonly ProfileTrace? _trace;

    /// <param name="trace">Where reads and conversions are traced (null: not traced).</param>
    /// <param name="scratch">The worker's reusable buffers (null: fresh ones).</param>
    /// <param name="shared">In a batch: the reads and steps this tensor's evaluation shares with the other jobs
    /// computing a tensor of the same name (null: a merge of its own).</param>
    public TensorScope(ProfileTrace? trace = null, ScratchArena? scratch = null, SharedSteps? shared = null)
    {
        _trace = trace;
        Scratch = scratch;
        Shared = shared;
    }

    /// <summary>The worker's reusable scratch (null: methods allocate their own).</summary>
    public ScratchArena? Scratch { get; }

    /// <summary>What this evaluation shares with other jobs of a batch, when it runs in one.</summary>
    public SharedSteps? Shared { get; }

    public T Own<T>(T item) where T : IDisposable
    {
        _owned.Add(item);
        return item;
    }

    /// <summary>Tensor <paramref name="name"/> of <paramref name="model"/>, read from its file into the worker's
    /// scratch; in a batch, read once for every job that reads it.</summary>
    public RawTensor Read(ModelDirectory model, string name)
    {
        var tensor = model.GetTensor(name);
        return Shared?.Read(model, name, () => ReadFile(tensor, b => Shared.Own(b))) ?? ReadFile(tensor, b => Own(b));
    }

    private unsafe RawTensor ReadFile(ModelTensor tensor, Func<TensorBytes, TensorBytes> owner)
    {
        using var span = _trace.Span("read", "read", tensor.Name);
        var bytes = owner(tensor.Read(Scratch));
        return new RawTensor(bytes.Pointer, tensor.Info.DType, tensor.Info.ElementCount);
    }

    /// <summary>A stage's tensor <paramref name="name"/>, computed once however many later stages (or slice
    /// sources) use it; in a batch, once for every job whose plan has the same step. The stage reports
    /// <paramref name="compute"/> adds to <paramref name="reports"/> are added again wherever the result is reused
    /// from another job, so that each job's report is the one it would have alone.</summary>
    public RawTensor Cached(MergeStage stage, string name, List<TensorStageReport> reports, Func<RawTensor> compute)
    {
        if (_stages.TryGetValue((stage, name), out var raw)) return raw;
        string? signature = Shared?.SignatureOf(stage);
        if (signature != null && Shared!.TryGetStage(signature, name, out raw, out var saved))
        {
            // Saved under the signatures of the stages that made them: labelled here with this plan's stage names.
            var labels = new Dictionary<string, string>();
            foreach (var s in StagesOf(stage)) labels.TryAdd(Shared.SignatureOf(s)!, s.Label);
            reports.AddRange(saved.Select(r => r.Report with { Stage = labels[r.Signature] }));
            return _stages[(stage, name)] = raw;
        }
        int before = reports.Count;
        raw = compute();
        if (signature != null)
        {
            var signatures = StagesOf(stage).ToDictionary(s => s.Label, s => Shared!.SignatureOf(s)!);
            Shared!.AddStage(signature, name, raw, reports.Skip(before).Select(r => (signatures[r.Stage], r)).ToArray());
        }
        return _stages[(stage, name)] = raw;
    }

    /// <summary><paramref name="stage"/> and every earlier stage it reads, each once (a shared stage's inputs are
    /// shared stages too, so each has a signature).</summary>
    private static IEnumerable<MergeStage> StagesOf(MergeStage stage) =>
        stage.Inputs.OfType<InputRef.Stage>().SelectMany(s => StagesOf(s.Node)).Prepend(stage).Distinct();

    /// <summary>Owns an intermediate result of <paramref name="stage"/>: the batch's shared steps keep it while the
    /// other jobs of the tensor may reuse it, a merge of its own drops it with this scope.</summary>
    public T OwnResult<T>(MergeStage stage, T item) where T : IDisposable =>
        Shared?.SignatureOf(stage) != null ? Shared.Own(item) : Own(item);

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
