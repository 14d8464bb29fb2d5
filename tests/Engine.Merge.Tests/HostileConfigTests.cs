using Engine.Merge.Config;

namespace Engine.Merge.Tests;

/// <summary>Hostile merge configs are refused while being read, with the file, key and value in one line:
/// non-finite or out-of-range numbers, deep nesting, alias bombs, oversized documents.</summary>
public sealed class HostileConfigTests
{
    private const string Path = "hostile.yml";

    private static MergeConfigException Refused(string yaml)
    {
        var e = Assert.Throws<MergeConfigException>(() => MergeConfigReader.Parse(Path, yaml));
        Assert.StartsWith(Path + ":", e.Message);
        Assert.DoesNotContain("\n", e.Message);
        return e;
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("nan")]
    [InlineData("Infinity")]
    [InlineData("-Infinity")]
    [InlineData("1e400")]
    [InlineData(".nan")]
    [InlineData("-.inf")]
    [InlineData(".Inf")]
    public void NonFiniteWeightsAreRefusedNamingKeyAndValue(string value)
    {
        var e = Refused($"merge_method: linear\nmodels:\n  - model: a\n    parameters:\n      weight: {value}\n  - model: b\n    parameters:\n      weight: 1\n");
        Assert.Contains("'weight'", e.Message);
        Assert.Contains($"'{value}'", e.Message);
        Assert.Contains("finite", e.Message);
    }

    [Fact]
    public void NumbersPastFloat32AreRefused()
    {
        var e = Refused("merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: [0.5, 1e39]}\n");
        Assert.Contains("'1e39'", e.Message);
        Assert.Contains("float32", e.Message);
    }

    [Fact]
    public void NonFiniteLambdaIsAConfigError()
    {
        var e = Refused("merge_method: arcee_fusion\nbase_model: b\nmodels: [{model: p}]\nparameters:\n  lambda: NaN\n");
        Assert.Contains("'lambda' is 'NaN'", e.Message);
    }

    [Fact]
    public void NonFiniteValueInsideAFilterListIsRefused()
    {
        var e = Refused("merge_method: ties\nbase_model: b\nmodels:\n  - model: p\n    parameters:\n      weight: 1\n      density:\n        - filter: mlp\n          value: Infinity\n        - value: 0.5\n");
        Assert.Contains("'density'", e.Message);
    }

    [Theory]
    [InlineData("ties", "density: 1.5", "parameter 'density' of model 'p' is 1.5; it must be in [0, 1]")]
    [InlineData("dare_ties", "density: [0.2, -0.1]", "parameter 'density' of model 'p' is -0.1; it must be in [0, 1]")]
    [InlineData("breadcrumbs", "gamma: 2", "parameter 'gamma' of model 'p' is 2; it must be in [0, 1]")]
    [InlineData("della", "epsilon: 0.7", "parameter 'epsilon' of model 'p' is 0.7; it must be in [0, 0.5]")]
    public void ParametersOutsideTheirRangeAreRefused(string method, string parameter, string message)
    {
        var e = Refused($"merge_method: {method}\nbase_model: b\nmodels:\n  - model: p\n    parameters: {{weight: 1, {parameter}}}\n");
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void QuotedNumbersStayText()
    {
        // A quoted "NaN" is a string: the method refuses it later as not a number, it is never parsed as one.
        var config = MergeConfigReader.Parse(Path, "merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: \"NaN\"}\n");
        Assert.Equal("NaN", config.Documents[0].Models[0].Parameters.Evaluate("weight", "t", 0));
    }

    [Fact]
    public void DeepNestingIsRefusedWithoutOverflowingTheStack()
    {
        const int depth = 50_000;
        var e = Refused("merge_method: linear\nmodels: " + new string('[', depth) + new string(']', depth) + "\n");
        Assert.Contains($"nested more than {YamlLimits.MaxDepth} levels", e.Message);
        var block = string.Concat(Enumerable.Range(0, 200).Select(i => new string(' ', i) + "- \n"));
        Refused("models:\n" + block);
    }

    [Fact]
    public void AliasBombsAreRefused()
    {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
            + string.Concat(Enumerable.Range(1, 9).Select(i => $"a{i}: &a{i} [{string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10))}]\n"))
            + "merge_method: linear\n";
        var e = Refused(yaml);
        Assert.Contains("aliases are expanded", e.Message);
    }

    [Fact]
    public void OversizedDocumentsAreRefused()
    {
        var e = Refused("merge_method: linear\n#" + new string('x', YamlLimits.MaxBytes) + "\n");
        Assert.Contains("more than", e.Message);
    }

    [Fact]
    public void FewAliasesStillWork()
    {
        var config = MergeConfigReader.Parse(Path, "merge_method: linear\nmodels:\n  - model: a\n    parameters: &p {weight: 0.5}\n  - model: b\n    parameters: *p\n");
        Assert.Equal(0.5, config.Documents[0].Models[1].Parameters.Evaluate("weight", "t", 0));
    }
}
