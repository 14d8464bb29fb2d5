using Engine.Core;
using Engine.Core.Model;
using Engine.Testing;
using Engine.Training.Data;
using Engine.Training.Evaluation;
using Engine.Training.Sft;
using Engine.Training.Synthetic;
using Engine.Training.Tokenization;
using YamlDotNet.RepresentationModel;

namespace Engine.Training.Tests;

/// <summary>The embedded experiment's backbone and recipe: a tiny pre-training run gives a model directory the engine
/// loads (byte-level tokenizer, the domains' rows read as eval prompts), a second call reuses it, another seed into
/// the same directory is refused, and the recipe is YAML with the agreed keys and paths that resolve.</summary>
public sealed class SyntheticExperimentTests
{
    /// <summary>A backbone of a few thousand parameters, pre-trained for a handful of steps: seconds, not minutes.</summary>
    private static readonly ExperimentSize Micro = SyntheticDomainTests.Tiny with
    {
        HiddenSize = 16, IntermediateSize = 32, Layers = 1, Heads = 2, KeyValueHeads = 1, PretrainRows = 48, BatchSize = 4, SeqLen = 128,
    };

    private sealed class Steps : IProgress<SftStepMetrics>
    {
        public List<SftStepMetrics> Seen { get; } = [];

        public void Report(SftStepMetrics value) => Seen.Add(value);
    }

    [Fact]
    public async Task PretrainingGivesALoadableBackboneThatASecondCallReuses()
    {
        using var temp = new TempDirectory();
        var steps = new Steps();
        string backbone = await SyntheticExperiment.PretrainBackboneAsync(temp.Combine("backbone"), Micro, seed: 4, threads: 1, steps, CancellationToken.None);

        Assert.Equal(temp.Combine("backbone"), backbone);
        Assert.NotEmpty(steps.Seen);
        Assert.Equal(steps.Seen[^1].TotalSteps, steps.Seen[^1].Step);
        Assert.True(steps.Seen[^1].Loss < steps.Seen[0].Loss, $"pre-training loss went from {steps.Seen[0].Loss} to {steps.Seen[^1].Loss}");
        Assert.False(Directory.Exists(backbone + ".work"));
        using (var directory = ModelDirectory.Open(backbone))
        {
            Assert.Equal(ExperimentSize.VocabSize, directory.Config!.VocabSize);
            Assert.IsType<ByteTokenizer>(ModelTokenizer.Load(backbone, directory.Config.VocabSize));
            Assert.Contains(ByteTokenizer.AddedTokens[StopTokens.EndOfTurn], StopTokens.Of(directory.Config, new ByteTokenizer()));
            using var context = ComputeContext.CreateCpu(threads: 1);
            using var model = Qwen2Model.Load(context, directory);
            Assert.Equal(Micro.HiddenSize, model.Config.HiddenSize);
        }

        // The domains' rows load through the dataset reader on this model, and each held-out row's reference is found
        // by the answer rule: the boxed answer of its reply.
        foreach (var domain in SyntheticExperiment.WriteDomains(temp.Combine("data"), Micro, seed: 4))
        {
            var dataset = SftDataset.Load(domain.EvalPath, backbone, new DatasetOptions());
            var prompts = EvalPrompts.From(dataset, StopTokens.Of(ModelConfig.Load(Path.Combine(backbone, "config.json")), dataset.Tokenizer), domain.EvalPath);
            var rows = SyntheticDomainTests.ReadRows(domain.EvalPath);
            Assert.Equal(rows.Count, prompts.Count);
            for (int i = 0; i < rows.Count; i++)
            {
                Assert.Equal(rows[i].Reply, prompts[i].ReferenceText);
                string boxed = rows[i].Reply[(rows[i].Reply.LastIndexOf("\\boxed{", StringComparison.Ordinal) + 7)..^1];
                Assert.Equal(AnswerExtraction.Normalize(boxed), AnswerExtraction.Extract(prompts[i].ReferenceText!));
            }
        }

        var written = File.GetLastWriteTimeUtc(Path.Combine(backbone, "model.safetensors"));
        var again = new Steps();
        Assert.Equal(backbone, await SyntheticExperiment.PretrainBackboneAsync(backbone, Micro, seed: 4, threads: 1, again, CancellationToken.None));
        Assert.Empty(again.Seen);
        Assert.Equal(written, File.GetLastWriteTimeUtc(Path.Combine(backbone, "model.safetensors")));

        var e = await Assert.ThrowsAsync<EngineException>(() => SyntheticExperiment.PretrainBackboneAsync(backbone, Micro, seed: 5, threads: 1, null, CancellationToken.None));
        Assert.Contains(backbone, e.Message);
        Assert.Contains("other settings", e.Message);
    }

    [Fact]
    public void AGarbledBackboneMarkerIsAnErrorNamingIt()
    {
        using var temp = new TempDirectory();
        string backbone = temp.Combine("backbone");
        Directory.CreateDirectory(backbone);
        string marker = Path.Combine(backbone, SyntheticBackbone.MarkerFile);
        File.WriteAllText(marker, "{\"size\": ");
        var e = Assert.Throws<EngineException>(() => SyntheticExperiment.IsBackboneCached(backbone, Micro, seed: 4));
        Assert.StartsWith($"{marker}: not a backbone marker", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public async Task PretrainingKeepsOnlyItsNewestCheckpoint()
    {
        using var temp = new TempDirectory();
        string run = temp.Combine("backbone.work", "run");
        int most = 0;
        long steps = 0;
        var watch = new Watch(m =>
        {
            steps = m.TotalSteps;
            most = Math.Max(most, SftCheckpoints.List(run).Count());
        });
        await SyntheticExperiment.PretrainBackboneAsync(temp.Combine("backbone"), Micro with { PretrainRows = 1500 }, seed: 4, threads: 1, watch, CancellationToken.None);
        Assert.True(steps > 100, $"only {steps} steps: the test needs at least two checkpoints");
        Assert.Equal(1, most);
    }

    private sealed class Watch(Action<SftStepMetrics> report) : IProgress<SftStepMetrics>
    {
        public void Report(SftStepMetrics value) => report(value);
    }

    [Fact]
    public async Task ACancelledPretrainingLeavesNoBackbone()
    {
        using var temp = new TempDirectory();
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            SyntheticExperiment.PretrainBackboneAsync(temp.Combine("backbone"), Micro, seed: 4, threads: 1, null, cancel.Token));
        Assert.False(Directory.Exists(temp.Combine("backbone")));
    }

    [Fact]
    public void RecipeIsYamlWithTheAgreedKeys()
    {
        using var temp = new TempDirectory();
        var domains = SyntheticExperiment.WriteDomains(temp.Combine("data"), Micro, seed: 9);
        string path = SyntheticExperiment.WriteRecipe(temp.Path, domains, ExperimentSize.Default, seed: 9);

        Assert.Equal(temp.Combine("recipe.yml"), path);
        var yaml = new YamlStream();
        using (var reader = new StreamReader(path)) yaml.Load(reader);
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        Assert.Equal(["name", "backbone", "seed", "domains", "sft", "merges", "controls", "eval"], Keys(root));
        Assert.Equal("embedded:default", Scalar(root, "backbone"));
        Assert.Equal("9", Scalar(root, "seed"));

        var domainNodes = (YamlMappingNode)root["domains"];
        Assert.Equal(["math", "coding", "science"], Keys(domainNodes));
        foreach (var d in domains)
        {
            var node = (YamlMappingNode)domainNodes[d.Name];
            Assert.Equal(["train", "eval"], Keys(node));
            Assert.Equal(Path.GetFullPath(d.TrainPath), Path.GetFullPath(Path.Combine(temp.Path, Scalar(node, "train"))));
            Assert.Equal(Path.GetFullPath(d.EvalPath), Path.GetFullPath(Path.Combine(temp.Path, Scalar(node, "eval"))));
        }

        // The SFT block names engine sft's options (dashes as underscores) with the values the size's SftOptions hold.
        var sft = (YamlMappingNode)root["sft"];
        var options = ExperimentSize.Default.BranchOptions(9);
        Assert.Equal(options.AdamW.Lr, double.Parse(Scalar(sft, "lr"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(SftOptionNames.Of(options.LrScheduleKind), Scalar(sft, "lr_schedule"));
        Assert.Equal(options.Epochs.ToString(System.Globalization.CultureInfo.InvariantCulture), Scalar(sft, "epochs"));
        Assert.Equal(options.SeqLen.ToString(System.Globalization.CultureInfo.InvariantCulture), Scalar(sft, "seq_len"));
        Assert.Subset(new HashSet<string> { "lr", "lr_schedule", "warmup_ratio", "epochs", "max_steps", "batch_size", "grad_accum", "seq_len", "packing",
            "weight_decay", "seed" }, Keys(sft).ToHashSet());

        var merges = ((YamlSequenceNode)root["merges"]).Cast<YamlMappingNode>().ToList();
        Assert.Equal(["(math & science) & coding", "(math & coding) & science"], merges.Select(m => Scalar(m, "order")));
        Assert.All(merges, m => Assert.Equal(("arcee_fusion", "1.5"), (Scalar(m, "method"), Scalar(m, "lambda"))));
        Assert.Equal(2, merges.Select(m => Scalar(m, "name")).Distinct().Count());

        var controls = (YamlMappingNode)root["controls"];
        Assert.Equal(("true", "true"), (Scalar(controls, "mixture"), Scalar(controls, "average")));
        var eval = (YamlMappingNode)root["eval"];
        Assert.Equal("exact_match", Scalar(eval, "metric"));
        Assert.True(int.Parse(Scalar(eval, "max_new_tokens"), System.Globalization.CultureInfo.InvariantCulture) >= 60);
    }

    [Fact]
    public void RecipeWithoutTheThreeDomainsIsRefused()
    {
        using var temp = new TempDirectory();
        var math = SyntheticExperiment.WriteDomains(temp.Combine("data"), Micro, seed: 9).Take(1).ToList();
        var e = Assert.Throws<ArgumentException>(() => SyntheticExperiment.WriteRecipe(temp.Path, math, Micro, seed: 9));
        Assert.Contains("science", e.Message);
    }

    private static List<string> Keys(YamlMappingNode node) => node.Children.Keys.Select(k => ((YamlScalarNode)k).Value!).ToList();

    private static string Scalar(YamlMappingNode node, string key) => ((YamlScalarNode)node[key]).Value!;
}
