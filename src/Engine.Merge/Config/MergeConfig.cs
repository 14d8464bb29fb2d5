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

/// <summary>One mergekit YAML document: a single merge. In a multi-stage plan, <see cref="Name"/> lets a
/// later document use this one's result as a model.</summary>
public sealed record MergeDocument
{
    public required string? Name { get; init; }
    public required string Method { get; init; }
    public required ImmutableArray<ModelEntry> Models { get; init; }
    public required string? BaseModel { get; init; }
    public required ParameterSet Parameters { get; init; }

    /// <summary><c>dtype</c>: inputs are cast to it before the math, as mergekit does.</summary>
    public required DType? DType { get; init; }

    /// <summary><c>out_dtype</c>: what the output stores (defaults to <see cref="DType"/>, then the base's dtype).</summary>
    public required DType? OutDType { get; init; }

    /// <summary><c>tokenizer_source</c>: <c>base</c> or a model; null means base.</summary>
    public required string? TokenizerSource { get; init; }

    public required Kernels.ComputePrecision ComputePrecision { get; init; }
    public required QuantileMode Quantiles { get; init; }

    /// <summary>Seed for every random choice of the method (sampling, DARE drops).</summary>
    public required int Seed { get; init; }
}

/// <summary>A whole config file: one document, or several forming a multi-stage plan whose last document
/// is the output.</summary>
public sealed record MergeConfig(string Path, ImmutableArray<MergeDocument> Documents, ImmutableArray<string> Warnings, string Text)
{
    public MergeDocument Output => Documents[^1];
}
