using Engine.Merge.Config;

namespace Engine.Merge.Tests.Methods;

public sealed class NuSlerpTests
{
    private static string Yaml(double w0, double w1, bool withBase, string globals = "{}")
    {
        string F(double v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return "merge_method: nuslerp\n" + (withBase ? "base_model: base\n" : "") +
            $"models:\n  - model: a\n    parameters: {{ weight: {F(w0)} }}\n  - model: b\n    parameters: {{ weight: {F(w1)} }}\nparameters: {globals}\n";
    }

    [Fact]
    public void HandComputedQuarterTurnAndWeightsToT()
    {
        // t = w_b / (w_a + w_b) = 0.5.
        var merged = MethodHarness.Merge(Yaml(2, 2, false), new Dictionary<string, float[]> { ["a"] = [1, 0], ["b"] = [0, 1] }, 2);
        MethodHarness.Close(new[] { Math.Sqrt(0.5), Math.Sqrt(0.5) }, merged, atol: 1e-7);
        // With a base: slerp the task vectors (1,0) and (0,1), then add the base back.
        var withBase = MethodHarness.Merge(Yaml(1, 1, true), new Dictionary<string, float[]> { ["base"] = [5, 5], ["a"] = [6, 5], ["b"] = [5, 6] }, 2);
        MethodHarness.Close(new[] { 5 + Math.Sqrt(0.5), 5 + Math.Sqrt(0.5) }, withBase, atol: 1e-6);
    }

    [Fact]
    public void RowWiseSlerpsEachRowOnItsOwn()
    {
        // Row 0 orthogonal (slerp), row 1 colinear (lerp).
        var tensors = new Dictionary<string, float[]> { ["a"] = [1, 0, 1, 1], ["b"] = [0, 1, 3, 3] };
        var merged = MethodHarness.Merge(Yaml(1, 1, false, "{nuslerp_flatten: false}"), tensors, 2, 2);
        MethodHarness.Close(new[] { Math.Sqrt(0.5), Math.Sqrt(0.5), 2, 2 }, merged, atol: 1e-6);
        // Along the first dimension: column 0 is (1, 1) vs (0, 3), column 1 is (0, 1) vs (1, 3).
        var columns = MethodHarness.Merge(Yaml(1, 1, false, "{nuslerp_flatten: false, nuslerp_row_wise: true}"), tensors, 2, 2);
        var expected = Reference(0.5, [1, 1], [0, 3]).Concat(Reference(0.5, [0, 1], [1, 3])).ToArray();
        MethodHarness.Close(new[] { expected[0], expected[2], expected[1], expected[3] }, columns, atol: 1e-6);
    }

    [Theory]
    [InlineData(true, "{}")]
    [InlineData(false, "{}")]
    [InlineData(true, "{nuslerp_flatten: false}")]
    [InlineData(false, "{nuslerp_flatten: false, nuslerp_row_wise: true}")]
    public void MatchesFloat64Reference(bool withBase, string globals)
    {
        const int rows = 64, columns = 1201;
        int n = rows * columns;
        var tensors = MethodHarness.Family(31, n, "a", "b");
        var merged = MethodHarness.Run(Yaml(0.3, 0.9, withBase, globals), tensors, [rows, columns], chunk: 50_000).Values;
        double t = 0.9 / 1.2;
        bool flatten = !globals.Contains("flatten: false"), alongFirst = globals.Contains("row_wise: true");
        var expected = new double[n];
        var b = tensors["base"];
        var v0 = tensors["a"].Select((x, i) => withBase ? x - (double)b[i] : x).ToArray();
        var v1 = tensors["b"].Select((x, i) => withBase ? x - (double)b[i] : x).ToArray();
        var vectors = flatten ? [Enumerable.Range(0, n).ToArray()]
            : alongFirst ? Enumerable.Range(0, columns).Select(j => Enumerable.Range(0, rows).Select(i => i * columns + j).ToArray()).ToArray()
            : Enumerable.Range(0, rows).Select(i => Enumerable.Range(i * columns, columns).ToArray()).ToArray();
        foreach (var index in vectors)
        {
            var r = Reference(t, index.Select(e => v0[e]).ToArray(), index.Select(e => v1[e]).ToArray());
            for (int k = 0; k < index.Length; k++) expected[index[k]] = r[k] + (withBase ? b[index[k]] : 0);
        }
        MethodHarness.Close(expected, merged, atol: 1e-7, rtol: 1e-5);
    }

    [Fact]
    public void MergingAModelWithItselfReturnsIt()
    {
        var x = MethodHarness.Random(32, 3000);
        MethodHarness.Exact(x, MethodHarness.Merge(Yaml(0.2, 0.5, false), new Dictionary<string, float[]> { ["a"] = x, ["b"] = x }, 3000));
        MethodHarness.Exact(x, MethodHarness.Merge(Yaml(0.2, 0.5, true), new Dictionary<string, float[]> { ["base"] = x, ["a"] = x, ["b"] = x }, 3000));
    }

    [Fact]
    public void NeedsExactlyTwoModels()
    {
        var e = Assert.Throws<MergeConfigException>(() => MethodHarness.Document("""
            merge_method: nuslerp
            base_model: base
            models:
              - model: a
                parameters: {weight: 1}
            """));
        Assert.Contains("exactly two", e.Message);
    }

    /// <summary>mergekit's nuslerp (mergekit/merge_methods/nuslerp.py) on one pair of vectors, float64.</summary>
    private static double[] Reference(double t, double[] v0, double[] v1)
    {
        double n0 = Math.Max(Math.Sqrt(v0.Sum(x => x * x)), 1e-7), n1 = Math.Max(Math.Sqrt(v1.Sum(x => x * x)), 1e-7);
        double cos = 0;
        for (int i = 0; i < v0.Length; i++) cos += v0[i] / n0 * (v1[i] / n1);
        double theta = Math.Acos(Math.Clamp(cos, -1, 1)), sin = Math.Sin(theta);
        if (Math.Abs(sin) < 1e-8) return v0.Select((x, i) => (1 - t) * x + t * v1[i]).ToArray();
        return v0.Select((x, i) => (Math.Sin((1 - t) * theta) * x + Math.Sin(t * theta) * v1[i]) / sin).ToArray();
    }
}
