using Engine.Pipeline.Recipes;
using Engine.Testing;
using Engine.Training.Evaluation;
using Engine.Training.Sft;
using Engine.Training.Synthetic;

namespace Engine.Pipeline.Tests;

/// <summary>The recipe format: what a valid recipe reads as, and a clear error naming the file and the key for each
/// kind of mistake.</summary>
public sealed class RecipeReaderTests
{
    private const string Valid = """
        backbone: models/backbone
        seed: 1234
        domains:
          math:    { train: data/math/train.jsonl,    eval: data/math/eval.jsonl }
          coding:  { train: data/coding/train.jsonl,  eval: data/coding/eval.jsonl }
          science: { train: data/science/train.jsonl, eval: data/science/eval.jsonl }
        sft:
          epochs: 2
          lr: 3.0e-4
          seq_len: 256
        branches:
          coding: { lr: 2.0e-4 }
        merges:
          - name: ms-then-c
            order: "(math & science) & coding"
            method: arcee_fusion
            lambda: 1.5
          - name: sm-then-c
            order: "(science & math) & coding"
          - name: custom
            config: merges/custom.yml
        controls:
          mixture: true
          average: true
        eval:
          metric: exact_match
          max_new_tokens: 64
          batch: 32
        """;

    private static Recipe Parse(string text) => RecipeReader.Parse("/r/recipe.yml", text);

    private static string ErrorOf(string text) => Assert.Throws<RecipeException>(() => Parse(text)).Message;

    [Fact]
    public void TheAgreedExampleReads()
    {
        var r = Parse(Valid);
        Assert.Equal("recipe", r.Name);
        Assert.Equal(new DirectoryBackbone("/r/models/backbone"), r.Backbone);
        Assert.Equal(1234, r.Seed);
        Assert.Equal(["math", "coding", "science"], r.Domains.Select(d => d.Name));
        Assert.Equal("/r/data/coding/eval.jsonl", r.Domains[1].Eval);
        var coding = r.BranchSettings("coding").ToOptions(r.Seed);
        var math = r.BranchSettings("math").ToOptions(r.Seed);
        Assert.Equal(2.0e-4, coding.AdamW.Lr);
        Assert.Equal(3.0e-4, math.AdamW.Lr);
        Assert.Equal((2, 256, 1234), (coding.Epochs, coding.SeqLen, coding.Seed));
        // Unset values take engine sft's defaults.
        Assert.Equal(LrSchedule.Cosine, math.LrScheduleKind);
        var first = Assert.IsType<OrderedMerge>(r.Merges[0]);
        Assert.Equal("((math & science) & coding)", first.Order.ToString());
        Assert.Equal(("arcee_fusion", 1.5), (first.Method, first.Lambda));
        Assert.Equal("arcee_fusion", Assert.IsType<OrderedMerge>(r.Merges[1]).Method);
        Assert.Equal("/r/merges/custom.yml", Assert.IsType<FileMerge>(r.Merges[2]).ConfigPath);
        Assert.True(r.Mixture && r.Average);
        Assert.Equal(new RecipeEval(EvalMetric.ExactMatch, 64, 32), r.Eval);
    }

    [Theory]
    [InlineData("embedded", "default")]
    [InlineData("embedded:default", "default")]
    [InlineData("embedded:small", "small")]
    [InlineData("embedded:test", "test")]
    public void TheEmbeddedBackboneIsNamedWithItsSize(string value, string size)
    {
        var r = Parse(Valid.Replace("backbone: models/backbone", $"backbone: {value}"));
        Assert.Equal(new EmbeddedBackbone(ExperimentSize.Parse(size)), r.Backbone);
        // A directory of that name is still reachable as a path.
        Assert.Equal(new DirectoryBackbone("/r/embedded"), Parse(Valid.Replace("backbone: models/backbone", "backbone: ./embedded")).Backbone);
    }

    [Fact]
    public void SettingsHashTheSameHoweverTheyAreSpelled()
    {
        var a = Parse(Valid.Replace("lr: 3.0e-4", "lr: 0.0003")).Sft.Canonical();
        Assert.Equal(Parse(Valid).Sft.Canonical(), a);
        Assert.NotEqual(Parse(Valid).Sft.Canonical(), Parse(Valid.Replace("lr: 3.0e-4", "lr: 3.1e-4")).Sft.Canonical());
        // Threads change speed, not results: not part of the hash.
        Assert.Equal(Parse(Valid).Sft.Canonical(), Parse(Valid.Replace("seq_len: 256", "seq_len: 256\n  threads: 3")).Sft.Canonical());
    }

    [Theory]
    [InlineData("seed: 1234", "seed: 1234\nbogus: 1", "bogus: unknown key")]
    [InlineData("seq_len: 256", "seq_len: 256\n  learning_rate: 1", "sft.learning_rate: unknown SFT setting 'learning_rate'")]
    [InlineData("lr: 3.0e-4", "lr: fast", "sft.lr: 'fast' is not a finite number")]
    [InlineData("epochs: 2", "epochs: 0", "sft: --epochs must be at least 1, got 0")]
    [InlineData("coding: { lr: 2.0e-4 }", "coding: { lr: -1 }", "branches.coding: ")]
    [InlineData("coding: { lr: 2.0e-4 }", "physics: { lr: 2.0e-4 }", "branches.physics: is not a domain")]
    [InlineData("backbone: models/backbone", "", "backbone: is required")]
    [InlineData("backbone: models/backbone", "backbone: embedded:huge", "backbone: 'embedded:huge': the embedded experiment size must be default or small, got 'huge'")]
    [InlineData("(math & science) & coding", "(math & biology) & coding", "merges[0].order: 'biology' is not a domain")]
    [InlineData("(math & science) & coding", "(math & science & coding", "merges[0].order: '(math & science & coding': ')' expected")]
    [InlineData("(math & science) & coding", "math", "merges[0].order: 'math': an order needs at least two domains")]
    [InlineData("(math & science) & coding", "math & math", "merges[0].order: 'math' appears twice")]
    [InlineData("method: arcee_fusion", "method: ties", "merges[0].method: the short form supports arcee_fusion and linear")]
    [InlineData("name: sm-then-c", "name: ms-then-c", "merges: the name 'ms-then-c' is used twice")]
    [InlineData("config: merges/custom.yml", "config: merges/custom.yml\n    order: \"math & coding\"", "merges[2]: give exactly one of 'order'")]
    [InlineData("metric: exact_match", "metric: bleu", "eval.metric: must be exact_match or loss, got 'bleu'")]
    [InlineData("mixture: true", "mixture: maybe", "controls.mixture: 'maybe' is not true or false")]
    [InlineData("batch: 32", "batch: 0", "eval.batch: '0' is not an integer in [1, 65536]")]
    [InlineData("lr: 3.0e-4", "lr: [1, 2]", "sft.lr: must be a single value")]
    public void MistakesNameTheFileAndTheKey(string find, string replace, string expected)
    {
        string message = ErrorOf(Valid.Replace(find, replace));
        Assert.StartsWith("/r/recipe.yml: ", message);
        Assert.Contains(expected, message);
    }

    [Fact]
    public void InvalidYamlAndMissingFilesAreOneLineErrors()
    {
        Assert.StartsWith("/r/recipe.yml: invalid YAML at line", ErrorOf("domains: [a"));
        Assert.StartsWith("/r/recipe.yml: a recipe is one YAML mapping", ErrorOf("- a\n- b"));
        using var temp = new TempDirectory();
        string missing = temp.Combine("nope.yml");
        Assert.StartsWith($"{missing}: cannot read the recipe", Assert.Throws<RecipeException>(() => RecipeReader.Load(missing)).Message);
    }
}
