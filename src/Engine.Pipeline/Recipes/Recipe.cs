using Engine.Training.Evaluation;
using Engine.Training.Synthetic;

namespace Engine.Pipeline.Recipes;

/// <summary>A Branch-Merge experiment as <c>recipe.yml</c> describes it (format in the README), validated, with
/// every path made absolute (relative paths are relative to the recipe file).</summary>
/// <param name="Path">The recipe file.</param>
/// <param name="Name">The experiment's name (default: the file name without extension).</param>
/// <param name="Backbone">What every branch starts from: an HF model directory, or the embedded backbone that the
/// plan's first step pre-trains.</param>
/// <param name="Seed">The SFT seed of every branch unless its settings give one.</param>
/// <param name="Domains">The domains in report column order.</param>
/// <param name="Sft">The shared SFT settings.</param>
/// <param name="Branches">Per-domain overrides of <see cref="Sft"/> (domains without one are absent).</param>
/// <param name="Merges">The merges, in report row order.</param>
/// <param name="Mixture">Whether to train the mixture control (<see cref="Planning.PipelinePlan"/> says how).</param>
/// <param name="Average">Whether to build the plain mean of the experts.</param>
/// <param name="Eval">How every model is evaluated.</param>
public sealed record Recipe(string Path, string Name, RecipeBackbone Backbone, int Seed, IReadOnlyList<RecipeDomain> Domains, SftSettings Sft,
    IReadOnlyDictionary<string, SftSettings> Branches, IReadOnlyList<RecipeMerge> Merges, bool Mixture, bool Average, RecipeEval Eval)
{
    /// <summary>The settings of <paramref name="domain"/>'s branch: the shared ones with its overrides on top.</summary>
    public SftSettings BranchSettings(string domain) => Branches.TryGetValue(domain, out var over) ? Sft.With(over) : Sft;
}

/// <summary>The backbone of a recipe: <see cref="DirectoryBackbone"/> (<c>backbone: PATH</c>) or
/// <see cref="EmbeddedBackbone"/> (<c>backbone: embedded</c> or <c>embedded:SIZE</c>).</summary>
public abstract record RecipeBackbone;

/// <summary><c>backbone: models/backbone</c>: an HF model directory (config.json, safetensors, tokenizer files).</summary>
/// <param name="Path">The directory, absolute.</param>
public sealed record DirectoryBackbone(string Path) : RecipeBackbone;

/// <summary><c>backbone: embedded[:SIZE]</c>: the tiny Qwen2 that <c>engine demo</c> uses (byte-level tokenizer),
/// pre-trained by the plan's <c>backbone</c> step from the recipe's seed on the general mixture and cached in the
/// output folder (<see cref="Planning.PipelinePlan.BackbonePath"/>).</summary>
/// <param name="Size">Its shape and pre-training (<see cref="ExperimentSize"/>: default or small).</param>
public sealed record EmbeddedBackbone(ExperimentSize Size) : RecipeBackbone
{
    /// <summary>The word that names it in a recipe: <c>backbone: embedded</c> (the default size) or <c>embedded:SIZE</c>.</summary>
    public const string Word = "embedded";
}

/// <summary>One domain: its training file and its held-out evaluation file (JSONL, formats as for <c>engine sft</c>).</summary>
public sealed record RecipeDomain(string Name, string Train, string Eval);

/// <summary>One merge of the recipe's experts: the short form (<see cref="OrderedMerge"/>) or a mergekit file
/// (<see cref="FileMerge"/>).</summary>
public abstract record RecipeMerge(string Name);

/// <summary><c>order: "(math &amp; science) &amp; coding"</c> with one method and its <c>lambda</c>.</summary>
public sealed record OrderedMerge(string Name, MergeOrder Order, string Method, double Lambda) : RecipeMerge(Name);

/// <summary><c>config: merges/custom.yml</c>: a mergekit YAML whose model names are domain names.</summary>
public sealed record FileMerge(string Name, string ConfigPath) : RecipeMerge(Name);

/// <summary>How every model is evaluated on every domain's eval file.</summary>
/// <param name="Metric">Exact match (greedy decoding) or loss; the held-out loss is measured either way.</param>
/// <param name="MaxNewTokens">Tokens generated per prompt at most.</param>
/// <param name="Batch">Prompts decoded together (the result does not depend on it).</param>
public sealed record RecipeEval(EvalMetric Metric, int MaxNewTokens, int Batch);
