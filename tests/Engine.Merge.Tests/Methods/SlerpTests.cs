using Engine.Merge.Config;

namespace Engine.Merge.Tests.Methods;

public sealed class SlerpTests
{
    private static string Yaml(string t) => $"""
        merge_method: slerp
        base_model: base
        models:
          - model: base
          - model: m
        parameters:
          t: {t}
        """;

    [Fact]
    public void HandComputedQuarterTurn()
    {
        // Orthogonal unit vectors: theta = pi/2, t = 1/2 gives (cos pi/4, sin pi/4).
        var merged = MethodHarness.Merge(Yaml("0.5"), new Dictionary<string, float[]> { ["base"] = [1, 0], ["m"] = [0, 1] }, 2);
        MethodHarness.Close(new[] { Math.Sqrt(0.5), Math.Sqrt(0.5) }, merged, atol: 1e-7);
        // t = 1/3 of the way: (cos pi/6, sin pi/6), with the norms interpolated by the coefficients, not renormalised.
        var third = MethodHarness.Merge(Yaml("0.3333333333333333"), new Dictionary<string, float[]> { ["base"] = [2, 0], ["m"] = [0, 2] }, 2);
        MethodHarness.Close(new[] { 2 * Math.Cos(Math.PI / 6), 2 * Math.Sin(Math.PI / 6) }, third, atol: 1e-6);
    }

    [Fact]
    public void EndsReturnTheInputsExactly()
    {
        var tensors = MethodHarness.Family(21, 10_000, "m");
        MethodHarness.Exact(tensors["base"], MethodHarness.Merge(Yaml("0"), tensors, 100, 100), "t=0");
        MethodHarness.Exact(tensors["m"], MethodHarness.Merge(Yaml("1"), tensors, 100, 100), "t=1");
        var random = new Dictionary<string, float[]> { ["base"] = MethodHarness.Random(1, 5000), ["m"] = MethodHarness.Random(2, 5000) };
        MethodHarness.Exact(random["base"], MethodHarness.Merge(Yaml("0"), random, 5000), "t=0 slerp branch");
        MethodHarness.Exact(random["m"], MethodHarness.Merge(Yaml("1"), random, 5000), "t=1 slerp branch");
    }

    [Fact]
    public void ColinearInputsAreInterpolatedLinearly()
    {
        var (values, stats) = MethodHarness.Run(Yaml("0.25"), new Dictionary<string, float[]> { ["base"] = [1, 2, 3], ["m"] = [2, 4, 6] }, [3]);
        Assert.True(stats["lerp"]!.GetValue<bool>());
        MethodHarness.Close(new[] { 1.25, 2.5, 3.75 }, values);
    }

    [Fact]
    public void MergingAModelWithItselfReturnsIt()
    {
        var x = MethodHarness.Random(3, 2000);
        MethodHarness.Exact(x, MethodHarness.Merge(Yaml("0.4"), new Dictionary<string, float[]> { ["base"] = x, ["m"] = x }, 2000));
    }

    [Theory]
    [InlineData(0.3)]
    [InlineData(0.77)]
    public void MatchesFloat64Reference(double t)
    {
        const int n = 80_000;
        var tensors = new Dictionary<string, float[]> { ["base"] = MethodHarness.Random(4, n), ["m"] = MethodHarness.Random(5, n, 0.5) };
        var merged = MethodHarness.Run(Yaml(t.ToString("R", System.Globalization.CultureInfo.InvariantCulture)), tensors, [n], chunk: 65_536).Values;
        MethodHarness.Close(Reference(t, tensors["base"], tensors["m"]), merged, atol: 1e-6, rtol: 1e-5);
    }

    [Fact]
    public void GradientTIsEvaluatedPerLayer()
    {
        var tensors = new Dictionary<string, float[]> { ["base"] = [1, 0], ["m"] = [0, 1] };
        var last = MethodHarness.Run(Yaml("[0, 1]"), tensors, [2], layerPosition: 1).Values;
        MethodHarness.Exact([0, 1], last);
    }

    [Fact]
    public void NeedsTAndExactlyTwoModels()
    {
        Assert.Contains("'t'", Assert.Throws<MergeConfigException>(() => MethodHarness.Document("""
            merge_method: slerp
            base_model: base
            models: [base, m]
            """)).Message);
        Assert.Contains("exactly two", Assert.Throws<MergeConfigException>(() => MethodHarness.Document("""
            merge_method: slerp
            base_model: base
            models: [base, m, n]
            parameters: {t: 0.5}
            """)).Message);
    }

    /// <summary>mergekit's slerp (mergekit/merge_methods/slerp.py) in float64; algorithmic reference.</summary>
    private static double[] Reference(double t, float[] v0, float[] v1)
    {
        double n0 = Math.Sqrt(v0.Sum(x => (double)x * x)), n1 = Math.Sqrt(v1.Sum(x => (double)x * x));
        double dot = 0;
        for (int i = 0; i < v0.Length; i++) dot += (v0[i] / n0) * (v1[i] / n1);
        if (Math.Abs(dot) > 0.9995) return v0.Select((x, i) => (1 - t) * x + t * v1[i]).ToArray();
        double theta0 = Math.Acos(dot), sin0 = Math.Sin(theta0), thetaT = theta0 * t;
        double s0 = Math.Sin(theta0 - thetaT) / sin0, s1 = Math.Sin(thetaT) / sin0;
        return v0.Select((x, i) => s0 * x + s1 * v1[i]).ToArray();
    }
}
