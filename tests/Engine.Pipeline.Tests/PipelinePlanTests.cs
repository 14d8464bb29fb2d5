using Engine.Pipeline.Planning;

namespace Engine.Pipeline.Tests;

/// <summary>The plan: its steps and their order, what each depends on, and step keys that change exactly when a
/// step's inputs or settings do.</summary>
public sealed class PipelinePlanTests
{
    private static Dictionary<string, string> Keys(PipelinePlan plan) => plan.Steps.ToDictionary(s => s.Id, s => s.Key);

    [Fact]
    public void StepsComeInDependencyOrder()
    {
        using var x = new TinyExperiment();
        var plan = x.Plan();
        string[] expected =
        [
            "sft-math", "sft-words", "sft-mixture", "merge-mw", "merge-average",
            .. new[] { "base", "math", "words", "mixture", "mw", "average" }.SelectMany(m => new[] { $"eval-{m}-on-math", $"eval-{m}-on-words" }),
            "report",
        ];
        Assert.Equal(expected, plan.Steps.Select(s => s.Id));
        for (int i = 0; i < plan.Steps.Count; i++)
            Assert.All(plan.Steps[i].DependsOn, d => Assert.True(plan.Steps.Take(i).Any(s => s.Id == d), $"{plan.Steps[i].Id} depends on {d}, planned later"));
        Assert.Equal(["sft-math", "sft-words"], plan.Step("merge-mw").DependsOn);
        Assert.Empty(plan.Step("eval-base-on-math").DependsOn);
        Assert.Equal(["sft-mixture"], plan.Step("eval-mixture-on-words").DependsOn);
    }

    [Fact]
    public void MixtureTakesTheExpertsStepsTogetherOnEveryTrainFile()
    {
        using var x = new TinyExperiment();
        var plan = x.Plan();
        var math = (SftStep)plan.Step("sft-math");
        var words = (SftStep)plan.Step("sft-words");
        var mixture = (SftStep)plan.Step("sft-mixture");
        // 8 rows, batch 2, 2 epochs, one row per sequence at most 64 tokens long: 4 steps per epoch.
        Assert.Equal(8, math.PlannedSteps);
        Assert.Equal(math.PlannedSteps + words.PlannedSteps, mixture.MaxSteps);
        Assert.Equal([..math.TrainFiles, ..words.TrainFiles], mixture.TrainFiles);
    }

    [Fact]
    public void KeysDependOnInputsAndSettingsNotOnTheOutputFolder()
    {
        using var x = new TinyExperiment();
        var before = Keys(x.Plan());
        Assert.Equal(before, Keys(PipelinePlan.Create(x.Recipe(), x.Combine("elsewhere"))));
        Assert.Equal(before.Count, before.Values.Distinct().Count());

        // A changed word of the words train file changes its expert and everything made from it, nothing else.
        string train = x.Combine("data", "words", "train.jsonl");
        File.WriteAllText(train, File.ReadAllText(train).Replace("reverse", "Reverse"));
        var after = Keys(x.Plan());
        var changed = before.Keys.Where(id => before[id] != after[id]).ToHashSet();
        var plan = x.Plan();
        var expected = plan.WithDependents("sft-words").Union(plan.WithDependents("sft-mixture")).ToHashSet();
        Assert.Equal(expected.Order(), changed.Order());
        Assert.DoesNotContain("sft-math", changed);
        Assert.DoesNotContain("eval-math-on-words", changed);
        Assert.Contains("eval-mw-on-math", changed);
    }

    [Fact]
    public void ASharedSettingChangesEverySftButNotTheBase()
    {
        using var a = new TinyExperiment();
        using var b = new TinyExperiment(extraSft: "  warmup_ratio: 0.1");
        var (ka, kb) = (Keys(a.Plan()), Keys(b.Plan()));
        // The shared settings changed: every SFT changes, and so every model but the base.
        Assert.NotEqual(ka["sft-math"], kb["sft-math"]);
        Assert.Equal(ka["eval-base-on-math"], kb["eval-base-on-math"]);
    }

    [Fact]
    public void WithDependentsFollowsEveryPath()
    {
        using var x = new TinyExperiment();
        var plan = x.Plan();
        var set = plan.WithDependents("sft-math");
        Assert.Contains("merge-mw", set);
        Assert.Contains("merge-average", set);
        Assert.Contains("eval-mw-on-words", set);
        Assert.Contains("report", set);
        Assert.DoesNotContain("sft-words", set);
        Assert.DoesNotContain("eval-mixture-on-math", set);
        Assert.Equal(["eval-base-on-math", "report"], plan.WithDependents("eval-base-on-math").Order());
        Assert.Contains("no step 'sft-physics'", Assert.Throws<Core.EngineException>(() => plan.WithDependents("sft-physics")).Message);
    }

    [Fact]
    public void AFileMergeUsesTheModelsItNamesAndRunsOnTheirDirectories()
    {
        using var x = new TinyExperiment(extraMerges: "  - name: custom\n    config: custom.yml");
        File.WriteAllText(x.Combine("custom.yml"), "merge_method: arcee_fusion\nbase_model: base\nmodels:\n  - model: words\n");
        var plan = x.Plan();
        var step = Assert.IsType<MergeStep>(plan.Step("merge-custom"));
        Assert.Equal(["base", "words"], step.Inputs);
        Assert.Equal(["sft-words"], step.DependsOn);
        var config = Merge.Config.MergeConfigReader.Parse("custom.yml", step.Render(plan.ModelPath));
        Assert.Equal(plan.BackbonePath, config.Documents[0].BaseModel);
        Assert.Contains(config.Documents[0].Models, m => m.Model == plan.ModelPath("words"));
        Assert.Contains("eval-custom-on-math", plan.Steps.Select(s => s.Id));

        File.WriteAllText(x.Combine("custom.yml"), $"merge_method: linear\nmodels:\n  - model: {x.Combine("models", "backbone")}\n");
        Assert.Contains("names no domain as a model", Assert.Throws<Recipes.RecipeException>(() => x.Plan()).Message);
    }

    [Fact]
    public void AFileMergeMayNameEarlierStagesAndDirectoriesButNothingElse()
    {
        using var x = new TinyExperiment(extraMerges: "  - name: custom\n    config: merges/custom.yml");
        Directory.CreateDirectory(x.Combine("merges"));
        string file = x.Combine("merges", "custom.yml");
        // A relative directory is relative to the merge file, and the generated copy names it in full.
        File.WriteAllText(file, "name: first\nmerge_method: arcee_fusion\nbase_model: math\nmodels:\n  - model: ../models/backbone\n---\n" +
            "merge_method: linear\nparameters: {weight: 1.0}\nmodels:\n  - model: first\n  - model: words\n");
        var plan = x.Plan();
        var step = Assert.IsType<MergeStep>(plan.Step("merge-custom"));
        Assert.Equal(["math", "words"], step.Inputs);
        var config = Merge.Config.MergeConfigReader.Parse(file, step.Render(plan.ModelPath));
        Assert.Contains(config.Documents[0].Models, m => m.Model == x.Combine("models", "backbone"));
        Assert.Contains(config.Documents[1].Models, m => m.Model == "first");
        // A directory is an input: its content is part of the step's key (and nothing else changes).
        Directory.CreateDirectory(x.Combine("models", "other"));
        File.WriteAllText(x.Combine("models", "other", "config.json"), "{}");
        File.WriteAllText(file, File.ReadAllText(file).Replace("../models/backbone", "../models/other"));
        var before = x.Plan();
        File.WriteAllText(x.Combine("models", "other", "config.json"), "{\"changed\": 1}");
        var after = x.Plan();
        Assert.NotEqual(before.Step("merge-custom").Key, after.Step("merge-custom").Key);
        Assert.Equal(before.Step("merge-mw").Key, after.Step("merge-mw").Key);

        // A typo, a stage named before it is made, a directory that is not there: one line naming the user's file and line.
        foreach (var (text, wrong, line) in new[]
        {
            ("merge_method: arcee_fusion\nbase_model: maths\nmodels:\n  - model: words\n", "base_model 'maths'", 2),
            ("merge_method: linear\nmodels:\n  - model: later\n  - model: words\n---\nname: later\nmerge_method: linear\nmodels:\n  - model: math\n", "model 'later'", 3),
            ("merge_method: linear\nmodels:\n  - model: math\n  - model: ../models/nope\n", "model '../models/nope'", 4),
        })
        {
            File.WriteAllText(file, text);
            string message = Assert.Throws<Recipes.RecipeException>(() => x.Plan()).Message;
            Assert.StartsWith($"{file}:{line}: merge 'custom': {wrong} is not a model of the recipe (base, math, words, mixture), an earlier stage's name", message);
            Assert.DoesNotContain("\n", message);
        }

        // Methods and parameters are checked by the merge reader now, not when the merge step runs.
        File.WriteAllText(file, "merge_method: linear\nmodels:\n  - model: math\n  - model: words\n");
        Assert.StartsWith($"{file}: linear needs parameter 'weight' for model 'math'", Assert.Throws<Merge.Config.MergeConfigException>(() => x.Plan()).Message);
    }

    [Fact]
    public void EveryEvalFileIsCheckedWhenThePlanIsMade()
    {
        using var x = new TinyExperiment();
        string eval = x.Combine("data", "words", "eval.jsonl");
        string good = File.ReadAllText(eval);
        File.AppendAllText(eval, "{\"messages\": [\n");
        Assert.StartsWith($"{eval}:5: ", Assert.Throws<Training.Data.DatasetFormatException>(() => x.Plan()).Message);

        // Exact match needs a reference reply in every row.
        File.WriteAllText(eval, good + "{\"messages\": [{\"role\": \"user\", \"content\": \"1+1=?\"}]}\n");
        Assert.StartsWith($"{eval}:5: ", Assert.Throws<Training.Data.DatasetFormatException>(() => x.Plan()).Message);
    }
}
