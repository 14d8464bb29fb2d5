using Engine.Pipeline.Recipes;

namespace Engine.Pipeline.Planning;

/// <summary>One step of a pipeline plan. <see cref="Key"/> is the hash of the step's kind, its settings and its
/// inputs' hashes (a data file's content, the backbone's files, or the key of the step that makes an input
/// model): the same key means the same result, so a finished step with that key is reused.</summary>
public abstract record PipelineStep(string Id, string Key, IReadOnlyList<string> DependsOn)
{
    /// <summary>The folder name of the step's output: its id and the start of its key.</summary>
    public string FolderName => $"{Id}-{Key[..12]}";

    /// <summary>One line for the plan listing.</summary>
    public abstract string Describe();
}

/// <summary>Pre-training of the embedded backbone (<c>backbone: embedded[:SIZE]</c>) from the recipe's seed, as
/// <c>engine demo</c> does; the plan's first step when the recipe names it. Its output is
/// <see cref="PipelinePlan.BackbonePath"/>, not a folder under <c>steps/</c>: the backbone's own cache (a marker
/// names its size and seed; a killed run resumes from its newest checkpoint in <c>BACKBONE.work/</c>).</summary>
public sealed record BackboneStep(string Id, string Key, Recipes.EmbeddedBackbone Backbone, int Seed) : PipelineStep(Id, Key, [])
{
    /// <inheritdoc/>
    public override string Describe() => $"pre-train the embedded {Backbone.Size.Name} backbone (seed {Seed}) on the general mixture";
}

/// <summary>SFT of <see cref="Model"/> (an expert, or the mixture) from the backbone on the train files.
/// <see cref="MaxSteps"/>: the mixture's step count (the experts' steps together), null for an expert (its
/// settings decide); <see cref="PlannedSteps"/>: the steps the run will take.</summary>
public sealed record SftStep(string Id, string Key, string Model, IReadOnlyList<RecipeDomain> Domains, SftSettings Settings, long? MaxSteps, long PlannedSteps,
    IReadOnlyList<string> DependsOnSteps) : PipelineStep(Id, Key, DependsOnSteps)
{
    /// <summary>The train files, in domain order.</summary>
    public IReadOnlyList<string> TrainFiles => Domains.Select(d => d.Train).ToList();

    /// <inheritdoc/>
    public override string Describe() => $"SFT {Model} on the train file{(Domains.Count > 1 ? "s" : "")} of {string.Join(" + ", Domains.Select(d => d.Name))}, {PlannedSteps} steps";
}

/// <summary>A merge of trained models into <see cref="Model"/>; <see cref="Inputs"/> are the model names it uses;
/// <see cref="Render"/> writes its mergekit YAML with each input model written through the function given.</summary>
public sealed record MergeStep(string Id, string Key, string Model, IReadOnlyList<string> Inputs, Func<Func<string, string>, string> Render, string Summary,
    IReadOnlyList<string> DependsOnSteps) : PipelineStep(Id, Key, DependsOnSteps)
{
    /// <inheritdoc/>
    public override string Describe() => $"merge {Model}: {Summary}";
}

/// <summary>Evaluation of <see cref="Model"/> on <see cref="Domain"/>'s eval file.</summary>
public sealed record EvalStep(string Id, string Key, string Model, RecipeDomain Domain, IReadOnlyList<string> DependsOnSteps)
    : PipelineStep(Id, Key, DependsOnSteps)
{
    /// <inheritdoc/>
    public override string Describe() => $"eval {Model} on {Domain.Name}";
}

/// <summary>The report: the table, report.json and the plots, from every other step's output.</summary>
public sealed record ReportStep(string Id, string Key, IReadOnlyList<string> DependsOnSteps) : PipelineStep(Id, Key, DependsOnSteps)
{
    /// <inheritdoc/>
    public override string Describe() => "report: report.md, report.json, plots/";
}

/// <summary>A model of the experiment (a row of the report): the backbone, an expert, the mixture, a merge or
/// the average. <see cref="StepId"/> is the step that makes it (for the base: the embedded backbone's pre-training, or
/// null for a backbone directory); <see cref="Key"/> its hash.</summary>
public sealed record PlannedModel(string Name, ModelRole Role, string? StepId, string Key);

/// <summary>What a model is in the experiment.</summary>
public enum ModelRole
{
    /// <summary>The backbone every SFT starts from, evaluated as is.</summary>
    Base,

    /// <summary>One domain's SFT branch.</summary>
    Expert,

    /// <summary>The control: one SFT on the union of every domain's train data, as many steps as the experts together.</summary>
    Mixture,

    /// <summary>A merge of experts (or of earlier merges) named in the recipe's <c>merges:</c>.</summary>
    Merge,

    /// <summary>The control: the element-wise linear mean of the experts, <c>(1/n) Σ_i θ_i</c>.</summary>
    Average,

}
