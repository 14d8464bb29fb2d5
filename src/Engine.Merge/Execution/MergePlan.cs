using System.Collections.Immutable;
using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Safetensors;
using Engine.Merge.Config;
using Engine.Merge.Methods;

namespace Engine.Merge.Execution;

/// <summary>An input of a stage: a model on disk or an earlier stage's result.</summary>
public abstract record InputRef(string Label)
{
    public sealed record Model(string Label, ModelDirectory Directory) : InputRef(Label);
    public sealed record Stage(string Label, MergeStage Node) : InputRef(Label);
}

/// <summary>One document of the config with its references resolved.</summary>
public sealed record MergeStage(int Index, MergeDocument Document, IMergeMethod Method, InputRef? Base,
    ImmutableArray<(InputRef Input, ParameterSet Parameters)> Others, DType OutDType)
{
    public string Label => Document.Name ?? "output";

    /// <summary>The inputs in order: base first (when there is one), then the others.</summary>
    public IEnumerable<InputRef> Inputs => (Base is null ? Enumerable.Empty<InputRef>() : [Base]).Concat(Others.Select(o => o.Input));

    /// <summary>The model whose tensor list, config and side files this stage's output takes.</summary>
    public ModelDirectory Primary => (Base ?? Others[0].Input) switch
    {
        InputRef.Model m => m.Directory,
        InputRef.Stage s => s.Node.Primary,
        _ => throw new InvalidOperationException(),
    };
}

/// <summary>One output tensor: its name, stored dtype, shape and layer position, and notes for the report
/// (vocab truncation).</summary>
public sealed record PlannedTensor(string Name, DType DType, ImmutableArray<long> Shape, double LayerPosition, ImmutableArray<string> Notes)
{
    public TensorSpec Spec => new(Name, DType, Shape);
}

/// <summary>A resolved merge: stages in dependency order, the models they read, and every output tensor
/// checked for presence and shape before anything is written.</summary>
public sealed class MergePlan : IDisposable
{
    private readonly List<ModelDirectory> _opened;

    private MergePlan(MergeConfig config, ImmutableArray<MergeStage> stages, List<ModelDirectory> opened)
    {
        Config = config;
        Stages = stages;
        _opened = opened;
    }

    public MergeConfig Config { get; }
    public ImmutableArray<MergeStage> Stages { get; }
    public MergeStage Output => Stages[^1];
    public IReadOnlyList<ModelDirectory> Models => _opened;

    /// <summary>Resolves names and paths, opens (and so validates) every input model.</summary>
    public static MergePlan Create(MergeConfig config, Func<MergeDocument, IMergeMethod>? methodOverride = null)
    {
        var opened = new List<ModelDirectory>();
        var byPath = new Dictionary<string, ModelDirectory>(StringComparer.Ordinal);
        var stagesByName = new Dictionary<string, MergeStage>(StringComparer.Ordinal);
        var stages = ImmutableArray.CreateBuilder<MergeStage>();
        try
        {
            for (int i = 0; i < config.Documents.Length; i++)
            {
                var doc = config.Documents[i];
                var method = methodOverride?.Invoke(doc) ?? MergeMethodRegistry.Get(doc.Method);
                InputRef Resolve(string reference)
                {
                    if (stagesByName.TryGetValue(reference, out var stage)) return new InputRef.Stage(reference, stage);
                    string path = ResolvePath(config.Path, reference);
                    if (!byPath.TryGetValue(path, out var model))
                    {
                        if (!Directory.Exists(path) && !File.Exists(path))
                            throw new MergeConfigException($"{config.Path}: model '{reference}' not found (looked for {path})");
                        model = ModelDirectory.Open(path);
                        byPath[path] = model;
                        opened.Add(model);
                    }
                    return new InputRef.Model(reference, model);
                }

                InputRef? baseRef = doc.BaseModel is null ? null : Resolve(doc.BaseModel);
                var others = doc.Models.Where(m => m.Model != doc.BaseModel).Select(m => (Resolve(m.Model), m.Parameters)).ToImmutableArray();
                if (baseRef is null && others.Length == 0) throw new MergeConfigException($"{config.Path}: stage {i + 1} has no models");
                var stageNode = new MergeStage(i, doc, method, baseRef, others, DType.F32);
                stageNode = stageNode with { OutDType = ResolveOutDType(stageNode) };
                stages.Add(stageNode);
                if (doc.Name != null) stagesByName[doc.Name] = stageNode;
            }
            return new MergePlan(config, stages.ToImmutable(), opened);
        }
        catch
        {
            foreach (var m in opened) m.Dispose();
            throw;
        }
    }

    /// <summary>A path as written, relative to the working directory or else to the config's directory.</summary>
    private static string ResolvePath(string configPath, string reference)
    {
        string direct = Path.GetFullPath(reference);
        if (Directory.Exists(direct) || File.Exists(direct) || Path.IsPathRooted(reference)) return direct;
        return Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(configPath)) ?? ".", reference));
    }

    private static DType ResolveOutDType(MergeStage stage)
    {
        if (stage.Document.OutDType is { } o) return o;
        if (stage.Document.DType is { } d) return d;
        if (stage.Base is InputRef.Stage s) return s.Node.OutDType;
        var primary = stage.Primary;
        if (primary.Config?.TorchDType is { } t && t.IsMathType()) return t;
        return primary.Tensors.Select(t => t.Info.DType).FirstOrDefault(t => t.IsMathType(), DType.F32);
    }

    /// <summary>The output tensors of <paramref name="stage"/>, each checked in every input.</summary>
    public IReadOnlyList<PlannedTensor> PlanTensors(MergeStage stage)
    {
        var result = new List<PlannedTensor>();
        int layers = stage.Primary.Config?.NumHiddenLayers ?? CountLayers(stage.Primary);
        foreach (var t in stage.Primary.Tensors)
        {
            var notes = ImmutableArray.CreateBuilder<string>();
            var shape = Shape(stage, t.Name, notes);
            var dtype = t.Info.DType.IsMathType() ? stage.OutDType : t.Info.DType;
            result.Add(new PlannedTensor(t.Name, dtype, shape, LayerPosition(t.Name, layers), notes.ToImmutable()));
        }
        return result;
    }

    /// <summary>The common shape of a tensor across a stage's inputs; embedding and head rows are truncated
    /// to the smallest vocab (mergekit's rule), any other mismatch is an error naming both shapes.</summary>
    public ImmutableArray<long> Shape(MergeStage stage, string name, ImmutableArray<string>.Builder? notes)
    {
        var shapes = new List<(string Label, ImmutableArray<long> Shape)>();
        foreach (var input in stage.Inputs)
        {
            var shape = input switch
            {
                InputRef.Model m => m.Directory.TryGetTensor(name, out var t) ? t.Info.Shape
                    : throw new ModelDirectoryException($"model '{m.Label}' ({m.Directory.Path}) has no tensor '{name}', needed by stage '{stage.Label}'"),
                InputRef.Stage s => Shape(s.Node, name, notes),
                _ => throw new InvalidOperationException(),
            };
            shapes.Add((input.Label, shape));
        }
        var first = shapes[0];
        if (shapes.All(s => s.Shape.SequenceEqual(first.Shape))) return first.Shape;
        bool vocab = IsVocabTensor(name) && shapes.All(s => s.Shape.Length == 2 && s.Shape[1] == first.Shape[1]);
        if (!vocab)
        {
            var other = shapes.First(s => !s.Shape.SequenceEqual(first.Shape));
            throw new MergeConfigException($"tensor '{name}': shape {TensorInfo.FormatShape(first.Shape)} in '{first.Label}' does not match {TensorInfo.FormatShape(other.Shape)} in '{other.Label}'");
        }
        long rows = shapes.Min(s => s.Shape[0]);
        notes?.Add($"stage '{stage.Label}': vocab sizes differ ({string.Join(", ", shapes.Select(s => $"{s.Label}: {s.Shape[0]}"))}); truncated to the common {rows} rows");
        return [rows, first.Shape[1]];
    }

    public static bool IsVocabTensor(string name) =>
        name.EndsWith("embed_tokens.weight", StringComparison.Ordinal) || name == ModelDirectory.LmHeadName || name.EndsWith("wte.weight", StringComparison.Ordinal);

    /// <summary>mergekit's gradient position: <c>layer / (layers - 1)</c> inside the layer stack, 0 outside.</summary>
    public static double LayerPosition(string name, int layers)
    {
        int layer = LayerIndex(name);
        if (layer < 0) return 0;
        return layers > 1 ? Math.Clamp((double)layer / (layers - 1), 0, 1) : 1;
    }

    /// <summary>The N of <c>.layers.N.</c> in a tensor name, or -1.</summary>
    public static int LayerIndex(string name)
    {
        int at = name.IndexOf(".layers.", StringComparison.Ordinal);
        if (at < 0) return -1;
        int start = at + ".layers.".Length, end = start;
        while (end < name.Length && char.IsAsciiDigit(name[end])) end++;
        return end > start && int.TryParse(name.AsSpan(start, end - start), out int n) ? n : -1;
    }

    private static int CountLayers(ModelDirectory model) => model.Tensors.Select(t => LayerIndex(t.Name)).DefaultIfEmpty(-1).Max() + 1;

    public void Dispose()
    {
        foreach (var m in _opened) m.Dispose();
    }
}
