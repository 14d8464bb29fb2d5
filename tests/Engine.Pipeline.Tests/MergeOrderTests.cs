using Engine.Merge.Config;
using Engine.Pipeline.Planning;
using Engine.Pipeline.Recipes;
using Engine.Testing;

namespace Engine.Pipeline.Tests;

/// <summary>The short merge form and the mergekit configs written from it.</summary>
public sealed class MergeOrderTests
{
    [Theory]
    [InlineData("a & b", "(a & b)")]
    [InlineData("a & b & c", "((a & b) & c)")]
    [InlineData("a & (b & c)", "(a & (b & c))")]
    [InlineData(" ( math&science )&coding ", "((math & science) & coding)")]
    public void ParsesLeftToRightWithParentheses(string text, string expected) => Assert.Equal(expected, MergeOrder.Parse(text).ToString());

    [Fact]
    public void TinyR1OrderFusesMathIntoScienceThenThatIntoCoding()
    {
        var merge = new OrderedMerge("tinyr1", MergeOrder.Parse("(math & science) & coding"), "arcee_fusion", 1.5);
        string yaml = MergeConfigs.Ordered(merge, name => "/m/" + name);
        var config = MergeConfigReader.Parse("tinyr1.yml", yaml);
        Assert.Equal(2, config.Documents.Length);
        Assert.Equal(("tinyr1-stage1", "/m/science"), (config.Documents[0].Name, config.Documents[0].BaseModel));
        Assert.Equal(["/m/math"], config.Documents[0].Models.Where(m => m.Model != "/m/science").Select(m => m.Model));
        Assert.Null(config.Documents[1].Name);
        Assert.Equal("/m/coding", config.Documents[1].BaseModel);
        Assert.Equal(["tinyr1-stage1"], config.Documents[1].Models.Where(m => m.Model != "/m/coding").Select(m => m.Model));
        Assert.Empty(config.Warnings);
    }

    [Fact]
    public void TheShortFormAlsoWritesLinearStages()
    {
        var merge = new OrderedMerge("lin", MergeOrder.Parse("a & b"), "linear", 1.5);
        var doc = Assert.Single(MergeConfigReader.Parse("lin.yml", MergeConfigs.Ordered(merge, name => "/m/" + name)).Documents);
        Assert.Equal(("linear", (string?)null), (doc.Method, doc.BaseModel));
        Assert.Equal(["/m/a", "/m/b"], doc.Models.Select(m => m.Model));
    }

    [Fact]
    public void AverageIsANormalisedLinearMergeOfEveryExpert()
    {
        var config = MergeConfigReader.Parse("avg.yml", MergeConfigs.Average(["a", "b", "c"], name => "/m/" + name));
        var doc = Assert.Single(config.Documents);
        Assert.Equal("linear", doc.Method);
        Assert.Equal(["/m/a", "/m/b", "/m/c"], doc.Models.Select(m => m.Model));
        Assert.Empty(config.Warnings);
    }

    [Fact]
    public void FileMergesHaveTheirDomainNamesReplacedAndKeepStageNames()
    {
        using var temp = new TempDirectory();
        string path = temp.Combine("custom.yml");
        File.WriteAllText(path, """
            name: first
            merge_method: arcee_fusion
            base_model: science
            models:
              - model: math
            ---
            merge_method: linear
            models:
              - model: first
                parameters: { weight: 1.0 }
              - model: coding
                parameters: { weight: 2.0 }
            """);
        var (text, used) = MergeConfigs.FromFile(new FileMerge("custom", path), new HashSet<string> { "math", "science", "coding", "base" }, n => $"/m/{n}");
        Assert.Equal(["science", "math", "coding"], used);
        var config = MergeConfigReader.Parse(path, text);
        Assert.Equal("/m/science", config.Documents[0].BaseModel);
        Assert.Equal(["first", "/m/coding"], config.Documents[1].Models.Select(m => m.Model));
    }
}
