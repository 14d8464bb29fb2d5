using System.Globalization;
using Engine.Merge.Config;
using Engine.Pipeline.Recipes;
using Engine.Training;
using Engine.Training.Data;
using Engine.Training.Evaluation;
using Engine.Training.Sft;
using Engine.Training.Synthetic;

namespace Engine.Pipeline.Planning;

/// <summary>The steps of a recipe, in an order that runs every step after the steps it depends on: the embedded
/// backbone's pre-training (when the recipe names it), SFT of each branch, the mixture SFT, each merge, the average, the evaluation of every model on every domain, the report.
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

    /// <summary>The id of the embedded backbone's pre-training, the plan's first step when the recipe has
    /// <c>backbone: embedded[:SIZE]</c>.</summary>
    public const string BackboneStepId = "backbone";

    /// <summary>The backbone's directory: the recipe's, or for the embedded one <c>OUT/models/backbone-SIZE-SEED</c>
    /// (made by the <see cref="BackboneStepId"/> step; a later run with the same size and seed reuses it).</summary>
    public string BackbonePath => Recipe.Backbone switch
    {
        DirectoryBackbone d => d.Path,
        EmbeddedBackbone e => Path.Combine(OutputPath, "models", string.Create(CultureInfo.InvariantCulture, $"backbone-{e.Size.Name}-{Recipe.Seed}")),
        _ => throw new InvalidOperationException($"unknown backbone {Recipe.Backbone}"),
    };

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
    public string ModelPath(string name) => Model(name) is { Role: not ModelRole.Base, StepId: { } id } ? Path.Combine(StepPath(Step(id)), "model") : BackbonePath;

    /// <summary><paramref name="id"/> and every step that depends on it, directly or not.</summary>
    public IReadOnlySet<string> WithDependents(string id)
    {
        var set = new HashSet<string>(StringComparer.Ordinal) { Step(id).Id };
        foreach (var step in Steps)
            if (step.DependsOn.Any(set.Contains)) set.Add(step.Id);
        return set;
    }

    /// <summary>Plans <paramref name="recipe"/> into <paramref name="outputPath"/> for a run on <paramref name="ranks"/>
    /// ranks. Reads the backbone and the data files (to hash them, and to count the experts' steps for the mixture),
    /// and checks every train and eval file as the steps will read it, so a bad row fails here, before anything runs.</summary>
    /// <exception cref="Core.EngineException">A file is missing or a row is malformed (the message names the file and
    /// line), a merge file names a model that is none of the recipe's (<see cref="RecipeException"/>), or its methods or
    /// parameters are wrong (<see cref="MergeConfigException"/> naming the file).</exception>
    public static PipelinePlan Create(Recipe recipe, string outputPath, int ranks = 1)
    {
        var steps = new List<PipelineStep>();
        string backboneKey;
        if (recipe.Backbone is EmbeddedBackbone embedded)
        {
            backboneKey = ContentHash.OfParts("embedded-backbone", SyntheticExperiment.BackboneKey(embedded.Size, recipe.Seed));
            steps.Add(new BackboneStep(BackboneStepId, backboneKey, embedded, recipe.Seed));
        }
        else
        {
            backboneKey = ContentHash.OfDirectory(((DirectoryBackbone)recipe.Backbone).Path);
        }
        IReadOnlyList<string> fromBackbone = steps.Select(s => s.Id).ToList();
        var models = new List<PlannedModel> { new("base", ModelRole.Base, fromBackbone.FirstOrDefault(), backboneKey) };
        long expertSteps = 0;
        foreach (var domain in recipe.Domains)
        {
            var settings = recipe.BranchSettings(domain.Name);
            long planned = PlannedSteps(recipe, [domain.Train], settings, null, ranks);
            expertSteps += planned;
            steps.Add(Sft($"sft-{domain.Name}", domain.Name, recipe, backboneKey, [domain], settings, null, planned, fromBackbone));
            models.Add(new(domain.Name, ModelRole.Expert, steps[^1].Id, steps[^1].Key));
        }
        if (recipe.Mixture)
        {
            steps.Add(Sft("sft-mixture", "mixture", recipe, backboneKey, recipe.Domains, recipe.Sft, expertSteps, expertSteps, fromBackbone));
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
        foreach (var domain in recipe.Domains) CheckEvalFile(recipe, domain.Eval, evalData);
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

        MergeStep MergeOf(string id, string name, IReadOnlyList<string> inputs, Func<Func<string, string>, string> render, string summary, string? keyText = null) =>
            new(id, ContentHash.OfParts("merge", keyText ?? render(KeyOf)), name, inputs, render, summary, StepsOf(inputs));

        MergeStep FileMergeOf(FileMerge f)
        {
            var names = trained.Keys.ToHashSet(StringComparer.Ordinal);
            // A directory the file names is keyed by its content, as the backbone is.
            var (keyText, inputs) = MergeConfigs.FromFile(f, names, KeyOf, directory => "dir:" + ContentHash.OfDirectory(directory));
            // Methods and parameters are checked now, with the inputs' names standing in for their directories (the
            // reader does not open them), and errors name the user's file and models: not after every SFT has run.
            MergeConfigReader.Parse(f.ConfigPath, MergeConfigs.FromFile(f, names, name => name).Text);
            return MergeOf($"merge-{f.Name}", f.Name, inputs, refer => MergeConfigs.FromFile(f, names, refer).Text, $"{Path.GetFileName(f.ConfigPath)} ({string.Join(", ", inputs)})",
                keyText);
        }
    }

    private static SftStep Sft(string id, string model, Recipe recipe, string backboneKey, IReadOnlyList<RecipeDomain> domains, SftSettings settings, long? maxSteps, long planned,
        IReadOnlyList<string> dependsOn)
    {
        var options = settings.ToOptions(recipe.Seed, maxSteps);
        string key = ContentHash.OfParts(domains.Select(d => "data:" + ContentHash.OfFile(d.Train))
            .Prepend($"sft;seed={options.Seed};max_steps={maxSteps?.ToString(CultureInfo.InvariantCulture) ?? "-"};{settings.Canonical()}")
            .Prepend("model:" + backboneKey));
        return new SftStep(id, key, model, domains, settings, maxSteps, planned, dependsOn);
    }

    /// <summary>The optimizer steps an SFT of <paramref name="settings"/> on <paramref name="trainFiles"/> takes. The
    /// files are read whether or not the count needs them: a bad row fails the plan, not the step.</summary>
    private static long PlannedSteps(Recipe recipe, IReadOnlyList<string> trainFiles, SftSettings settings, long? maxSteps, int ranks)
    {
        var options = settings.ToOptions(recipe.Seed, maxSteps);
        var examples = LoadExamples(recipe.Backbone, trainFiles, settings.ToDatasetOptions());
        return options.MaxSteps > 0 ? options.MaxSteps : SftTrainer.PlannedSteps(examples, options, ranks);
    }

    /// <summary>Reads an eval file as its evaluations will (the shared template and system prompt, the backbone's
    /// tokenizer) and checks that every row has a reference to score (exact match) or that some row does (loss).</summary>
    private static void CheckEvalFile(Recipe recipe, string path, DatasetOptions options)
    {
        var dataset = LoadDataset(recipe.Backbone, path, options);
        if (recipe.Eval.Metric == EvalMetric.ExactMatch)
            EvalPrompts.From(dataset, new HashSet<int>(), path);
        else if (dataset.Examples.All(e => e.Labels.All(l => l == PackedBatch.IgnoreIndex)))
            throw new DatasetFormatException(path, 1, "no row has a labelled token: there is no held-out loss to measure");
    }

    /// <summary>The examples of <paramref name="files"/>, in file order, tokenized for <paramref name="backbone"/>.</summary>
    public static IReadOnlyList<TokenizedExample> LoadExamples(RecipeBackbone backbone, IEnumerable<string> files, DatasetOptions options) =>
        files.SelectMany(f => LoadDataset(backbone, f, options).Examples).ToList();

    /// <summary>A data file read for <paramref name="backbone"/>: with its directory's tokenizer, or for the embedded
    /// backbone with its byte-level tokenizer (the same one the pre-trained model will have), so a plan can read its
    /// data before the backbone exists.</summary>
    public static LoadedDataset LoadDataset(RecipeBackbone backbone, string file, DatasetOptions options)
    {
        switch (backbone)
        {
            case DirectoryBackbone d:
                return SftDataset.Load(file, d.Path, options);
            case EmbeddedBackbone:
                var (tokenizer, vocabSize) = SyntheticExperiment.BackboneTokenizer();
                return SftDataset.Load(file, tokenizer, vocabSize, options);
            default:
                throw new InvalidOperationException($"unknown backbone {backbone}");
        }
    }

    private static string Describe(DatasetOptions d) => $"template={d.Template};system={d.SystemPrompt ?? "-"};skip_bad_rows={d.SkipBadRows}";
}
