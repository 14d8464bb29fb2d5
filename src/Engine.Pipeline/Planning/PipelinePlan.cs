using System.Globalization;
using Engine.Pipeline.Recipes;
using Engine.Training.Data;
using Engine.Training.Evaluation;
using Engine.Training.Sft;

namespace Engine.Pipeline.Planning;

/// <summary>The steps of a recipe, in an order that runs every step after the steps it depends on: SFT of each
/// branch, the mixture SFT, each merge, the average, the evaluation of every model on every domain, the report.
/// <para>The mixture control: one SFT from the backbone on the union of every domain's train file (the examples
/// of all files, in domain order, shuffled together by the trainer's seed) with the shared <c>sft:</c> settings,
/// and <c>max_steps</c> = the sum of the experts' optimizer steps (each expert's <c>max_steps</c>, or its epochs
/// times its steps per epoch, as the trainer counts them for the same rank count). Each step then sees the same
/// number of sequences as an expert's step with the shared batch settings, so the mixture and the experts
/// together take the same optimizer steps and, up to how documents pack into sequences, the same tokens; the
/// report gives the tokens each actually trained on.</para></summary>
public sealed record PipelinePlan(Recipe Recipe, string OutputPath, IReadOnlyList<PlannedModel> Models, IReadOnlyList<PipelineStep> Steps)
{
    /// <summary>The id of the plan's last step, the report; <c>--force report</c> redoes only the report.</summary>
    public const string ReportStepId = "report";

    /// <summary>Where finished steps live: <c>OUT/steps/ID-KEY</c>.</summary>
    public string StepsPath => Path.Combine(OutputPath, "steps");

    /// <summary>Where <paramref name="step"/>'s finished output lives: <c>OUT/steps/ID-KEY</c>, published there whole
    /// by a rename from <see cref="PartialPath"/>.</summary>
    public string StepPath(PipelineStep step) => Path.Combine(StepsPath, step.FolderName);

    /// <summary>Where a step is built before it is published by a rename (and where a killed SFT resumes).</summary>
    public string PartialPath(PipelineStep step) => Path.Combine(StepsPath, ".partial", step.FolderName);

    /// <summary>The step with id <paramref name="id"/>.</summary>
    /// <exception cref="Core.EngineException">No step has that id; the message lists the plan's steps.</exception>
    public PipelineStep Step(string id) => Steps.FirstOrDefault(s => s.Id == id)
        ?? throw new Core.EngineException($"no step '{id}' in the plan of {Recipe.Path} (steps: {string.Join(", ", Steps.Select(s => s.Id))})");

    /// <summary>The model named <paramref name="name"/> (<c>base</c>, a domain, <c>mixture</c>, a merge or <c>average</c>).</summary>
    /// <exception cref="InvalidOperationException">The plan has no model of that name.</exception>
    public PlannedModel Model(string name) => Models.First(m => m.Name == name);

    /// <summary>The directory of a model: the backbone's, or the <c>model</c> folder of the step that makes it.</summary>
    public string ModelPath(string name) => Model(name) is { StepId: { } id } ? Path.Combine(StepPath(Step(id)), "model") : Recipe.Backbone;

    /// <summary><paramref name="id"/> and every step that depends on it, directly or not.</summary>
    public IReadOnlySet<string> WithDependents(string id)
    {
        var set = new HashSet<string>(StringComparer.Ordinal) { Step(id).Id };
        foreach (var step in Steps)
            if (step.DependsOn.Any(set.Contains)) set.Add(step.Id);
        return set;
    }

    /// <summary>Plans <paramref name="recipe"/> into <paramref name="outputPath"/> for a run on <paramref name="ranks"/>
    /// ranks. Reads the backbone and the data files (to hash them, and to count the experts' steps for the mixture).</summary>
    public static PipelinePlan Create(Recipe recipe, string outputPath, int ranks = 1)
    {
        string backboneKey = ContentHash.OfDirectory(recipe.Backbone);
        var models = new List<PlannedModel> { new("base", ModelRole.Base, null, backboneKey) };
        var steps = new List<PipelineStep>();
        long expertSteps = 0;
        foreach (var domain in recipe.Domains)
        {
            var settings = recipe.BranchSettings(domain.Name);
            long planned = PlannedSteps(recipe, [domain.Train], settings, null, ranks);
            expertSteps += planned;
            steps.Add(Sft($"sft-{domain.Name}", domain.Name, recipe, backboneKey, [domain], settings, null, planned));
            models.Add(new(domain.Name, ModelRole.Expert, steps[^1].Id, steps[^1].Key));
        }
        if (recipe.Mixture)
        {
            steps.Add(Sft("sft-mixture", "mixture", recipe, backboneKey, recipe.Domains, recipe.Sft, expertSteps, expertSteps));
            models.Add(new("mixture", ModelRole.Mixture, steps[^1].Id, steps[^1].Key));
        }

        var trained = models.ToDictionary(m => m.Name, StringComparer.Ordinal);
        string KeyOf(string model) => "model:" + trained[model].Key;
        IReadOnlyList<string> StepsOf(IEnumerable<string> inputs) => inputs.Select(m => trained[m].StepId).OfType<string>().Distinct().ToList();
        var domainNames = recipe.Domains.Select(d => d.Name).ToList();
        foreach (var merge in recipe.Merges)
        {
            MergeStep step = merge switch
            {
                OrderedMerge o => MergeOf($"merge-{o.Name}", o.Name, o.Order.Domains.ToList(), refer => MergeConfigs.Ordered(o, refer),
                    $"{o.Method} {o.Order} (lambda {o.Lambda.ToString(CultureInfo.InvariantCulture)})"),
                FileMerge f => FileMergeOf(f),
                _ => throw new InvalidOperationException(),
            };
            steps.Add(step);
            models.Add(new(merge.Name, ModelRole.Merge, step.Id, step.Key));
        }
        if (recipe.Average)
        {
            steps.Add(MergeOf("merge-average", "average", domainNames, refer => MergeConfigs.Average(domainNames, refer), $"linear mean of {string.Join(", ", domainNames)}"));
            models.Add(new("average", ModelRole.Average, steps[^1].Id, steps[^1].Key));
        }

        var evalData = recipe.Sft.ToDatasetOptions();
        foreach (var model in models)
        {
            foreach (var domain in recipe.Domains)
            {
                string key = ContentHash.OfParts("eval", "model:" + model.Key, "data:" + ContentHash.OfFile(domain.Eval), Describe(evalData),
                    $"metric={recipe.Eval.Metric};max_new_tokens={recipe.Eval.MaxNewTokens}");
                steps.Add(new EvalStep($"eval-{model.Name}-on-{domain.Name}", key, model.Name, domain, model.StepId is { } id ? [id] : []));
            }
        }
        var reportInputs = steps.ToList();
        steps.Add(new ReportStep(ReportStepId, ContentHash.OfParts(reportInputs.Select(s => $"{s.Id}={s.Key}").Prepend("report:" + recipe.Name)),
            reportInputs.Select(s => s.Id).ToList()));
        return new PipelinePlan(recipe, Path.GetFullPath(outputPath), models, steps);

        MergeStep MergeOf(string id, string name, IReadOnlyList<string> inputs, Func<Func<string, string>, string> render, string summary) =>
            new(id, ContentHash.OfParts("merge", render(KeyOf)), name, inputs, render, summary, StepsOf(inputs));

        MergeStep FileMergeOf(FileMerge f)
        {
            var names = trained.Keys.ToHashSet(StringComparer.Ordinal);
            var (_, inputs) = MergeConfigs.FromFile(f, names, KeyOf);
            return MergeOf($"merge-{f.Name}", f.Name, inputs, refer => MergeConfigs.FromFile(f, names, refer).Text, $"{Path.GetFileName(f.ConfigPath)} ({string.Join(", ", inputs)})");
        }
    }

    private static SftStep Sft(string id, string model, Recipe recipe, string backboneKey, IReadOnlyList<RecipeDomain> domains, SftSettings settings, long? maxSteps, long planned)
    {
        var options = settings.ToOptions(recipe.Seed, maxSteps);
        string key = ContentHash.OfParts(domains.Select(d => "data:" + ContentHash.OfFile(d.Train))
            .Prepend($"sft;seed={options.Seed};max_steps={maxSteps?.ToString(CultureInfo.InvariantCulture) ?? "-"};{settings.Canonical()}")
            .Prepend("model:" + backboneKey));
        return new SftStep(id, key, model, domains, settings, maxSteps, planned);
    }

    /// <summary>The optimizer steps an SFT of <paramref name="settings"/> on <paramref name="trainFiles"/> takes.</summary>
    private static long PlannedSteps(Recipe recipe, IReadOnlyList<string> trainFiles, SftSettings settings, long? maxSteps, int ranks)
    {
        var options = settings.ToOptions(recipe.Seed, maxSteps);
        if (options.MaxSteps > 0) return options.MaxSteps;
        return SftTrainer.PlannedSteps(LoadExamples(recipe.Backbone, trainFiles, settings.ToDatasetOptions()), options, ranks);
    }

    /// <summary>The examples of <paramref name="files"/>, in file order, tokenized for <paramref name="modelPath"/>.</summary>
    public static IReadOnlyList<TokenizedExample> LoadExamples(string modelPath, IEnumerable<string> files, DatasetOptions options) =>
        files.SelectMany(f => SftDataset.Load(f, modelPath, options).Examples).ToList();

    private static string Describe(DatasetOptions d) => $"template={d.Template};system={d.SystemPrompt ?? "-"};skip_bad_rows={d.SkipBadRows}";
}
