using Engine.Core.Model;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Merge.Methods;

namespace Engine.Merge.Execution;

/// <summary>What the jobs of a batch share while each computes its output tensor of one name on one worker: every
/// input tensor read once (keyed by the model's real path and the tensor's name), every intermediate step whose
/// <see cref="StepSignatures">signature</see> two plans have in common computed once (with the stage reports it
/// made), and Arcee Fusion's importance and quartiles of a tensor pair computed once for every lambda. Everything
/// is dropped together when the tensor name is done, on the worker's thread (a GPU importance must be released on
/// the thread that made it).</summary>
internal sealed class SharedSteps(StepSignatures signatures) : IDisposable
{
    private readonly Dictionary<(string Model, string Tensor), RawTensor> _reads = new();
    private readonly Dictionary<(string Signature, string Tensor), (RawTensor Result, (string Signature, TensorStageReport Report)[] Reports)> _stages = new();
    private readonly List<(string Key, ImportanceStep Step)> _importances = new();
    private readonly List<IDisposable> _owned = new();

    /// <summary>Input reads served from an earlier job's read.</summary>
    public int ReadsShared { get; private set; }

    /// <summary>Intermediate steps served from an earlier job's result.</summary>
    public int StepsShared { get; private set; }

    /// <summary>Arcee Fusion importances (and quartiles) served from an earlier job's.</summary>
    public int ImportancesShared { get; private set; }

    public T Own<T>(T item) where T : IDisposable
    {
        _owned.Add(item);
        return item;
    }

    /// <summary>The signature of <paramref name="stage"/> (null: the stage is never shared).</summary>
    public string? SignatureOf(MergeStage stage) => signatures.Of(stage);

    /// <summary>Arcee Fusion's sharing key for <paramref name="stage"/>'s tensor <paramref name="tensor"/>: the stage's
    /// signature without <c>lambda</c> (null: not shared).</summary>
    public string? ImportanceKey(MergeStage stage, string tensor) => signatures.WithoutLambda(stage) is { } s ? s + "\n" + tensor : null;

    /// <summary>Tensor <paramref name="tensor"/> of <paramref name="model"/>, read by <paramref name="read"/> the first
    /// time any job asks for it.</summary>
    public RawTensor Read(ModelDirectory model, string tensor, Func<RawTensor> read)
    {
        var key = (signatures.ModelKey(model), tensor);
        if (_reads.TryGetValue(key, out var raw))
        {
            ReadsShared++;
            return raw;
        }
        return _reads[key] = read();
    }

    public bool TryGetStage(string signature, string tensor, out RawTensor result, out (string Signature, TensorStageReport Report)[] reports)
    {
        if (_stages.TryGetValue((signature, tensor), out var entry))
        {
            StepsShared++;
            (result, reports) = entry;
            return true;
        }
        (result, reports) = (default, []);
        return false;
    }

    /// <summary>Keeps a step's result with the reports it made, each under the signature of the stage that made it.</summary>
    public void AddStage(string signature, string tensor, RawTensor result, (string Signature, TensorStageReport Report)[] reports) => _stages[(signature, tensor)] = (result, reports);

    /// <summary>The importance step under <paramref name="key"/>, computed by <paramref name="compute"/> the first time.
    /// A GPU backend holds one kept importance at a time (its device buffers): one kept on a device is released
    /// before another is computed.</summary>
    public ImportanceStep Importance(string key, Func<ImportanceStep> compute)
    {
        foreach (var (k, step) in _importances)
        {
            if (k != key) continue;
            ImportancesShared++;
            return step;
        }
        ReleaseDeviceImportance();
        var made = compute();
        _importances.Add((key, made));
        return made;
    }

    /// <summary>Releases a kept importance that holds a device's buffers, before any other kernel runs there (one-call
    /// kernels use the same buffers). Host importances stay: they hold nothing of the backend's.</summary>
    public void ReleaseDeviceImportance()
    {
        for (int i = _importances.Count - 1; i >= 0; i--)
        {
            if (_importances[i].Step.Importance is HostImportance) continue;
            _importances[i].Step.Dispose();
            _importances.RemoveAt(i);
        }
    }

    public void Dispose()
    {
        for (int i = _importances.Count - 1; i >= 0; i--) _importances[i].Step.Dispose();
        _importances.Clear();
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
        _owned.Clear();
    }
}
