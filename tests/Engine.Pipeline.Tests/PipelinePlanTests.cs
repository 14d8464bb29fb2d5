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

        File.WriteAllText(x.Combine("custom.yml"), "merge_method: linear\nmodels:\n  - model: /elsewhere\n");
        Assert.Contains("names no domain as a model", Assert.Throws<Recipes.RecipeException>(() => x.Plan()).Message);
    }
}
