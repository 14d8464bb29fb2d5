using Engine.Merge.Config;

namespace Engine.Merge.Tests.Methods;

public sealed class LinearTests
{
    private const string ThreeModels = """
        merge_method: linear
        models:
          - model: a
            parameters: {weight: 0.2}
          - model: b
            parameters: {weight: 0.5}
          - model: c
            parameters: {weight: 0.3}
        """;

    [Fact]
    public void HandComputedWeightedAverage()
    {
        var tensors = new Dictionary<string, float[]> { ["a"] = [1, 2, 10], ["b"] = [3, 2, 0], ["c"] = [-1, 2, 5] };
        var merged = MethodHarness.Merge(ThreeModels, tensors, 3);
        // (0.2 a + 0.5 b + 0.3 c) / 1.0
        MethodHarness.Close(new double[] { 1.4, 2, 3.5 }, merged);
    }

    [Fact]
    public void WithoutNormalizeWeightsAreNotDivided()
    {
        const string yaml = """
            merge_method: linear
            models:
              - model: a
                parameters: {weight: 2}
              - model: b
                parameters: {weight: 1}
            parameters: {normalize: false}
            """;
        var merged = MethodHarness.Merge(yaml, new Dictionary<string, float[]> { ["a"] = [1, -1], ["b"] = [3, 3] }, 2);
        MethodHarness.Close(new double[] { 5, 1 }, merged);
    }

    [Fact]
    public void BaseTakesPartWithItsWeight()
    {
        const string yaml = """
            merge_method: linear
            base_model: base
            models:
              - model: base
                parameters: {weight: 3}
              - model: a
                parameters: {weight: 1}
            """;
        var merged = MethodHarness.Merge(yaml, new Dictionary<string, float[]> { ["base"] = [4, 0], ["a"] = [0, 8] }, 2);
        MethodHarness.Close(new double[] { 3, 2 }, merged);
    }

    [Fact]
    public void MatchesFloat64Reference()
    {
        const int n = 70_001;
        var tensors = MethodHarness.Family(3, n, "a", "b", "c");
        tensors.Remove("base");
        var merged = MethodHarness.Run(ThreeModels, tensors, [n], chunk: 40_000).Values;
        var expected = new double[n];
        for (int i = 0; i < n; i++) expected[i] = (0.2 * tensors["a"][i] + 0.5 * tensors["b"][i] + 0.3 * tensors["c"][i]) / 1.0;
        MethodHarness.Close(expected, merged, atol: 1e-8);
    }

    [Fact]
    public void OneNonZeroWeightReturnsThatModelExactly()
    {
        const string yaml = """
            merge_method: linear
            models:
              - model: a
                parameters: {weight: 0}
              - model: b
                parameters: {weight: 0.37}
            """;
        var tensors = MethodHarness.Family(4, 1000, "a", "b");
        MethodHarness.Exact(tensors["b"], MethodHarness.Merge(yaml, tensors, 1000));
    }

    [Fact]
    public void MergingAModelWithItselfReturnsIt()
    {
        var x = MethodHarness.Random(5, 999);
        var merged = MethodHarness.Merge(ThreeModels, new Dictionary<string, float[]> { ["a"] = x, ["b"] = x, ["c"] = x }, 999);
        MethodHarness.Close(x, merged, atol: 0, rtol: 3e-7);
    }

    [Fact]
    public void PerLayerGradientIsEvaluatedAtTheLayerPosition()
    {
        const string yaml = """
            merge_method: linear
            models:
              - model: a
                parameters: {weight: [0, 1]}
              - model: b
                parameters: {weight: [1, 0]}
            """;
        var tensors = new Dictionary<string, float[]> { ["a"] = [10], ["b"] = [20] };
        Assert.Equal(20f, MethodHarness.Run(yaml, tensors, [1], layerPosition: 0).Values[0]);
        Assert.Equal(10f, MethodHarness.Run(yaml, tensors, [1], layerPosition: 1).Values[0]);
        Assert.Equal(15f, MethodHarness.Run(yaml, tensors, [1], layerPosition: 0.5).Values[0]);
    }

    [Fact]
    public void MissingWeightIsAConfigErrorNamingTheModel()
    {
        var e = Assert.Throws<MergeConfigException>(() => MethodHarness.Document("""
            merge_method: linear
            models:
              - model: a
                parameters: {weight: 1}
              - model: b
            """));
        Assert.Contains("test.yml", e.Message);
        Assert.Contains("'weight'", e.Message);
        Assert.Contains("'b'", e.Message);
    }

    [Fact]
    public void WeightsSummingToZeroAreAnErrorNamingTheTensor()
    {
        const string yaml = """
            merge_method: linear
            models:
              - model: a
                parameters: {weight: 1}
              - model: b
                parameters: {weight: -1}
            """;
        var e = Assert.Throws<MergeConfigException>(() => MethodHarness.Merge(yaml, new Dictionary<string, float[]> { ["a"] = [1], ["b"] = [2] }, 1));
        Assert.Contains(MethodHarness.TensorName, e.Message);
    }

    [Fact]
    public void WarnsAboutIgnoredParametersAndArceeFusionOnlyOptions()
    {
        var config = MergeConfigReader.Parse("test.yml", """
            merge_method: linear
            compute_dtype: bfloat16
            models:
              - model: a
                parameters: {weight: 1, density: 0.5}
            parameters: {lambda: 2}
            """);
        Assert.Contains(config.Warnings, w => w.Contains("compute_dtype"));
        Assert.Contains(config.Warnings, w => w.Contains("'density' of model 'a'"));
        Assert.Contains(config.Warnings, w => w.Contains("ignores parameter 'lambda'"));
    }
}
