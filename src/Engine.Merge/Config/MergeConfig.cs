using System.Collections.Immutable;
using Engine.Core;

namespace Engine.Merge.Config;

/// <summary>How quantiles of the importance are found.</summary>
public enum QuantileMode
{
    /// <summary>Exact order statistics of every element (the engine's default; deterministic).</summary>
    Exact,

    /// <summary>mergekit's estimate: a seeded random sample of at most 1M elements, drawn separately for the
    /// median and for the quartiles.</summary>
    Sampled,
}

/// <summary>One model entry of a merge document: a path (or an earlier stage's name) and its parameters.</summary>
public sealed record ModelEntry(string Model, ParameterSet Parameters);

/// <summary>One source of an output slice: the layers <c>[Start, End)</c> of <see cref="Model"/> (mergekit's
/// half-open <c>layer_range</c>) and the parameters given to it.</summary>
public sealed record SliceSource(string Model, int Start, int End, ParameterSet Parameters)
{
    /// <summary>Layers the source contributes: <c>End - Start</c>.</summary>
    public int Length => End - Start;
}

/// <summary>One output slice of mergekit's <c>slices:</c>: its sources (all the same number of layers), merged
/// layer by layer into that many consecutive output layers; an optional <c>base_model</c> and <c>parameters</c>
/// that override the document's within the slice.</summary>
public sealed record SliceDefinition(ImmutableArray<SliceSource> Sources, string? BaseModel, ParameterSet Parameters)
{
    /// <summary>Output layers the slice produces.</summary>
    public int Length => Sources[0].Length;
}

/// <summary>One mergekit YAML document: a single merge. In a multi-stage plan, <see cref="Name"/> lets a
/// later document use this one's result as a model.</summary>
public sealed record MergeDocument
{
    /// <summary><c>name</c>: how later documents refer to this one's result (null for a single merge or the last document).</summary>
    public required string? Name { get; init; }
    /// <summary><c>merge_method</c>, a name in <see cref="Methods.MergeMethodRegistry"/>.</summary>
    public required string Method { get; init; }
    /// <summary><c>models:</c>, in config order, each with its own parameters (empty for a sliced merge, see <see cref="Slices"/>).</summary>
    public required ImmutableArray<ModelEntry> Models { get; init; }

    /// <summary><c>slices:</c>, in output order; empty for a <c>models:</c> merge (then <see cref="Models"/> is used).</summary>
    public ImmutableArray<SliceDefinition> Slices { get; init; } = [];

    /// <summary>True when the document merges by <c>slices:</c> rather than by <c>models:</c>.</summary>
    public bool IsSliced => !Slices.IsDefaultOrEmpty;
    /// <summary><c>base_model</c>: a path or an earlier document's name; null when the method takes none.</summary>
    public required string? BaseModel { get; init; }
    /// <summary>The merge-level <c>parameters</c>, the fallback of every model's own.</summary>
    public required ParameterSet Parameters { get; init; }

    /// <summary><c>dtype</c>: inputs are cast to it before the math, as mergekit does.</summary>
    public required DType? DType { get; init; }

    /// <summary><c>out_dtype</c>: what the output stores (defaults to <see cref="DType"/>, then the base's dtype).</summary>
    public required DType? OutDType { get; init; }

    /// <summary><c>tokenizer_source</c> (or <c>tokenizer.source</c>): <c>base</c>, <c>union</c> or a model; null means base.</summary>
    public required string? TokenizerSource { get; init; }

    /// <summary>The vocabulary merge (<c>tokenizer:</c>, or <c>tokenizer_source:</c> with no token settings);
    /// null: the output takes the base model's tokenizer files and embedding rows as they are.</summary>
    public TokenizerSettings? Tokenizer { get; init; }

    /// <summary><c>compute_dtype</c>: float32 math with float64 sums (the default), or mergekit's bf16 rounding.</summary>
    public required Kernels.ComputePrecision ComputePrecision { get; init; }
    /// <summary><c>quantiles</c>: exact order statistics (default) or mergekit's sampled estimate.</summary>
    public required QuantileMode Quantiles { get; init; }

    /// <summary>Seed for every random choice of the method (sampling, DARE drops).</summary>
    public required int Seed { get; init; }

    /// <summary><c>chat_template</c>: a built-in template name, <c>auto</c>, or a Jinja template (null: the
    /// tokenizer source's own).</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>The document as the method sees it inside slice <paramref name="index"/>: the slice's sources as
    /// its models (each with its own parameters), the slice's base (else the document's; none when it is not
    /// among the slice's sources, as its tensors are then not gathered), and the slice's parameters over the
    /// document's, as mergekit's ConfigReader looks them up.</summary>
    public MergeDocument ForSlice(int index)
    {
        var slice = Slices[index];
        string? sliceBase = slice.BaseModel ?? BaseModel;
        return this with
        {
            Models = slice.Sources.Select(s => new ModelEntry(s.Model, s.Parameters)).ToImmutableArray(),
            BaseModel = slice.Sources.Any(s => s.Model == sliceBase) ? sliceBase : null,
            Parameters = slice.Parameters.Over(Parameters),
            Slices = [],
        };
    }
}

/// <summary>A whole config file: one document, or several forming a multi-stage plan whose last document
/// is the output.</summary>
public sealed record MergeConfig(string Path, ImmutableArray<MergeDocument> Documents, ImmutableArray<string> Warnings, string Text)
{
    /// <summary>The last document, whose result is written as the output model.</summary>
    public MergeDocument Output => Documents[^1];
}
