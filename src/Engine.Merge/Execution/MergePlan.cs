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
    /// <summary>A model directory on disk.</summary>
    /// <param name="Label">The name the config gives it (its path as written).</param>
    /// <param name="Directory">The opened model.</param>
    public sealed record Model(string Label, ModelDirectory Directory) : InputRef(Label);
    /// <summary>An earlier stage's result, used as a model.</summary>
    /// <param name="Label">The stage's <c>name</c>.</param>
    /// <param name="Node">The stage.</param>
    public sealed record Stage(string Label, MergeStage Node) : InputRef(Label);
}

/// <summary>One document of the config with its references resolved. In a sliced stage, <see cref="Base"/> and
/// <see cref="Others"/> list every model the slices read (for the card and the report); <see cref="Slices"/>
/// says which tensor of which input makes each output tensor.</summary>
public sealed record MergeStage(int Index, MergeDocument Document, IMergeMethod Method, InputRef? Base,
    ImmutableArray<(InputRef Input, ParameterSet Parameters)> Others, DType OutDType)
{
    /// <summary>The document's <c>name</c>, or <c>output</c> for the unnamed last stage.</summary>
    public string Label => Document.Name ?? "output";

    /// <summary>The output vocabulary and each input's embedding rows, when the config merges tokenizers.</summary>
    public VocabularyPlan? Vocabulary { get; init; }

    /// <summary>The tensor map of a sliced stage; null for a <c>models:</c> merge.</summary>
    public SliceMap? Slices { get; init; }

    /// <summary>Where this stage's output keeps its layers (its decoder count is the output's).</summary>
    public required ModelLayout Layout { get; init; }

    /// <summary>Decoder layers of the output when slices (here or in a stage this one builds on) changed the
    /// count; null when the output has the primary model's.</summary>
    public int? OutputLayers => Slices?.OutputLayers ?? ((Base ?? Others[0].Input) is InputRef.Stage s ? s.Node.OutputLayers : null);

    /// <summary>The inputs in order: base first (when there is one), then the others.</summary>
    public IEnumerable<InputRef> Inputs => (Base is null ? Enumerable.Empty<InputRef>() : [Base]).Concat(Others.Select(o => o.Input));

    /// <summary>The model whose tensor list, config and side files this stage's output takes.</summary>
    public ModelDirectory Primary => (Base ?? Others[0].Input) switch
    {
        InputRef.Model m => m.Directory,
        InputRef.Stage s => s.Node.Primary,
        _ => throw new InvalidOperationException(),
    };

    /// <summary>How output tensor <paramref name="name"/> is made: from the slice map, or in a <c>models:</c>
    /// merge from the same name in every input at the name's own layer position.</summary>
    public TensorRecipe Recipe(string name) => Slices?.Get(name) ?? new TensorRecipe(name, Document,
        Base is null ? null : new RecipeInput(Base, name, ParameterSet.Empty),
        Others.Select(o => new RecipeInput(o.Input, name, o.Parameters)).ToImmutableArray(),
        Layout.LayerPosition(name), -1, Layout.DecoderLayer(name));
}

/// <summary>One output tensor: its name, stored dtype, shape and layer position, and notes for the report
/// (vocab truncation).</summary>
public sealed record PlannedTensor(string Name, DType DType, ImmutableArray<long> Shape, double LayerPosition, ImmutableArray<string> Notes)
{
    /// <summary>The tensor as the output shard header records it: name, dtype, shape.</summary>
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

    /// <summary>The config the plan resolves.</summary>
    public MergeConfig Config { get; }
    /// <summary>One stage per document, in dependency order; the last is <see cref="Output"/>.</summary>
    public ImmutableArray<MergeStage> Stages { get; }
    /// <summary>The stage whose result is the output model.</summary>
    public MergeStage Output => Stages[^1];
    /// <summary>Every input model opened, each once; <see cref="Dispose"/> closes them.</summary>
    public IReadOnlyList<ModelDirectory> Models => _opened;

    /// <summary>Resolves names and paths, opens (and so validates) every input model.</summary>
    public static MergePlan Create(MergeConfig config, Func<MergeDocument, IMergeMethod>? methodOverride = null)
    {
        var opened = new List<ModelDirectory>();
        var byPath = new Dictionary<string, ModelDirectory>(StringComparer.Ordinal);
        var stagesByName = new Dictionary<string, MergeStage>(StringComparer.Ordinal);
        var stages = ImmutableArray.CreateBuilder<MergeStage>();
        var layouts = new InputLayouts();
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
                var listed = doc.IsSliced
                    ? doc.Slices.SelectMany(sl => sl.Sources).Select(src => new ModelEntry(src.Model, ParameterSet.Empty)).DistinctBy(m => m.Model)
                    : doc.Models.AsEnumerable();
                var others = listed.Where(m => m.Model != doc.BaseModel).Select(m => (Resolve(m.Model), m.Parameters)).ToImmutableArray();
                if (baseRef is null && others.Length == 0) throw new MergeConfigException($"{config.Path}: stage {i + 1} has no models");
                var first = doc.IsSliced ? baseRef ?? Resolve(doc.Slices[0].Sources[0].Model) : baseRef ?? others[0].Item1;
                var stageNode = new MergeStage(i, doc, method, baseRef, others, DType.F32) { Layout = layouts.Of(first) };
                if (doc.IsSliced)
                {
                    var map = SliceMap.Create(config.Path, doc, Resolve, layouts.NamesOf, layouts.Of, first);
                    stageNode = stageNode with { Slices = map, Layout = stageNode.Layout.WithDecoderCount(map.OutputLayers) };
                }
                stageNode = stageNode with { OutDType = ResolveOutDType(stageNode) };
                if (VocabularyPlan.Create(config.Path, stageNode) is { } vocabulary)
                {
                    if (stageNode.Inputs.OfType<InputRef.Stage>().FirstOrDefault(s => s.Node.Vocabulary is { Reorders: true }) is { } earlier)
                        throw new MergeConfigException($"{config.Path}: stage {i + 1} merges vocabularies over stage '{earlier.Label}', which changed its own; merge the vocabulary in one stage only");
                    stageNode = stageNode with { Vocabulary = vocabulary };
                }
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
        foreach (var name in OutputNames(stage))
        {
            var notes = ImmutableArray.CreateBuilder<string>();
            var shape = Shape(stage, name, notes);
            var recipe = stage.Recipe(name);
            var stored = StoredDType(recipe.Inputs.First());
            var dtype = stored.IsMathType() ? stage.OutDType : stored;
            result.Add(new PlannedTensor(name, dtype, shape, recipe.LayerPosition, notes.ToImmutable()));
        }
        return result;
    }

    /// <summary>The names of a stage's output tensors, in output order.</summary>
    public static IReadOnlyList<string> OutputNames(MergeStage stage) =>
        stage.Slices is { } map ? map.Recipes.Select(r => r.Name).ToList() : InputLayouts.NamesOfInput(stage.Base ?? stage.Others[0].Input);

    /// <summary>The model tensors that computing <paramref name="stage"/>'s tensor <paramref name="name"/> reads,
    /// each once, through earlier stages.</summary>
    public IEnumerable<(ModelDirectory Model, string Tensor)> Reads(MergeStage stage, string name) =>
        stage.Recipe(name).Inputs.SelectMany(i => i.Input switch
        {
            InputRef.Model m => [(m.Directory, i.Tensor)],
            InputRef.Stage s => Reads(s.Node, i.Tensor),
            _ => throw new InvalidOperationException(),
        }).Distinct();

    /// <summary>The dtype a tensor is stored in, following earlier stages back to the model that holds it.</summary>
    private static DType StoredDType(RecipeInput input) => input.Input switch
    {
        InputRef.Model m => m.Directory.GetTensor(input.Tensor).Info.DType,
        InputRef.Stage s => StoredDType(s.Node.Recipe(input.Tensor).Inputs.First()),
        _ => throw new InvalidOperationException(),
    };

    /// <summary>The common shape of a tensor across a stage's inputs; embedding and head rows are truncated
    /// to the smallest vocab (mergekit's rule), any other mismatch is an error naming both shapes.</summary>
    public ImmutableArray<long> Shape(MergeStage stage, string name, ImmutableArray<string>.Builder? notes)
    {
        var shapes = new List<(string Label, ImmutableArray<long> Shape)>();
        foreach (var input in stage.Recipe(name).Inputs)
        {
            var shape = input.Input switch
            {
                InputRef.Model m => m.Directory.TryGetTensor(input.Tensor, out var t) ? t.Info.Shape
                    : throw new ModelDirectoryException($"model '{m.Label}' ({m.Directory.Path}) has no tensor '{input.Tensor}', needed by stage '{stage.Label}'"
                        + (input.Tensor == name ? "" : $" for its tensor '{name}'")),
                InputRef.Stage s => Shape(s.Node, input.Tensor, notes),
                _ => throw new InvalidOperationException(),
            };
            shapes.Add((input.Input.Label, shape));
        }
        var first = shapes[0];
        if (stage.Vocabulary is { Reorders: true } vocabulary && IsVocabTensor(name))
        {
            if (shapes.Any(s => s.Shape.Length != 2 || s.Shape[1] != first.Shape[1]))
                throw new MergeConfigException($"tensor '{name}': embedding widths differ ({string.Join(", ", shapes.Select(s => $"{s.Label}: {TensorInfo.FormatShape(s.Shape)}"))})");
            notes?.Add($"stage '{stage.Label}': rows rebuilt to the merged vocabulary of {vocabulary.Tokens.Length} tokens ({vocabulary.Rows} rows)");
            return [vocabulary.Rows, first.Shape[1]];
        }
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

    /// <summary>Whether <paramref name="name"/> is a vocabulary-sized tensor (<c>embed_tokens</c>, <c>lm_head</c>, <c>wte</c>),
    /// whose rows are truncated to the common vocabulary when the inputs' vocab sizes differ.</summary>
    public static bool IsVocabTensor(string name) =>
        name.EndsWith("embed_tokens.weight", StringComparison.Ordinal) || name == ModelDirectory.LmHeadName || name.EndsWith("wte.weight", StringComparison.Ordinal);

    /// <summary>Closes every model the plan opened.</summary>
    public void Dispose()
    {
        foreach (var m in _opened) m.Dispose();
    }
}
