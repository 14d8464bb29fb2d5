using Engine.Merge.Config;

namespace Engine.Merge.Tests.Methods;

public sealed class ModelStockTests
{
    private static string Yaml(int models, string globals = "{}") =>
        "merge_method: model_stock\nbase_model: base\nmodels:\n" + string.Concat(Enumerable.Range(0, models).Select(i => $"  - model: m{i}\n")) + $"parameters: {globals}\n";

    [Fact]
    public void HandComputed()
    {
        // Offsets (1, 0) and (0, 1): cos = 0, t = 0, merged = base. Offsets (1, 0) and (1, 1): cos = 1/sqrt 2,
        // t = 2c / (1 + c); merged = t * mean + (1 - t) * base.
        var orthogonal = MethodHarness.Merge(Yaml(2), new Dictionary<string, float[]> { ["base"] = [1, 1], ["m0"] = [2, 1], ["m1"] = [1, 2] }, 2);
        MethodHarness.Close(new double[] { 1, 1 }, orthogonal);
        double c = Math.Sqrt(0.5), t = 2 * c / (1 + c);
        var merged = MethodHarness.Merge(Yaml(2), new Dictionary<string, float[]> { ["base"] = [0, 0], ["m0"] = [1, 0], ["m1"] = [1, 1] }, 2);
        MethodHarness.Close(new[] { t * 1, t * 0.5 }, merged, atol: 1e-7);
    }

    [Theory]
    [InlineData(2, false)]
    [InlineData(3, false)]
    [InlineData(4, true)]
    public void MatchesFloat64Reference(int models, bool filterWise)
    {
        const int rows = 40, columns = 1801;
        int n = rows * columns;
        var names = Enumerable.Range(0, models).Select(i => $"m{i}").ToArray();
        var tensors = MethodHarness.Family(71, n, names);
        // Correlated offsets, so t is well inside (0, 1).
        var shared = MethodHarness.Random(72, n, 0.002);
        foreach (var name in names) tensors[name] = tensors[name].Select((v, e) => v + shared[e]).ToArray();
        var merged = MethodHarness.Run(Yaml(models, filterWise ? "{filter_wise: true}" : "{}"), tensors, [rows, columns], chunk: 20_000).Values;
        var expected = new double[n];
        int vectorLength = filterWise ? columns : n;
        for (int start = 0; start < n; start += vectorLength)
        {
            var index = Enumerable.Range(start, vectorLength).ToArray();
            var w0 = index.Select(e => (double)tensors["base"][e]).ToArray();
            var ws = names.Select(m => index.Select(e => (double)tensors[m][e]).ToArray()).ToArray();
            var r = Reference(w0, ws);
            for (int k = 0; k < index.Length; k++) expected[index[k]] = r[k];
        }
        MethodHarness.Close(expected, merged, atol: 1e-7, rtol: 1e-5);
    }

    [Fact]
    public void MergingTheBaseWithItselfReturnsIt()
    {
        var x = MethodHarness.Random(73, 4000);
        MethodHarness.Exact(x, MethodHarness.Merge(Yaml(3), new Dictionary<string, float[]> { ["base"] = x, ["m0"] = x, ["m1"] = x, ["m2"] = x }, 4000));
    }

    [Fact]
    public void NeedsTwoModelsBesidesTheBase()
    {
        var e = Assert.Throws<MergeConfigException>(() => MethodHarness.Document(Yaml(1)));
        Assert.Contains("at least two", e.Message);
    }

    /// <summary>mergekit's ModelStockMergeTask (mergekit/merge_methods/model_stock.py) for one vector, float64.</summary>
    private static double[] Reference(double[] w0, double[][] ws)
    {
        int n = ws.Length;
        var offsets = ws.Select(w => w.Select((v, e) => v - w0[e]).ToArray()).ToArray();
        double Dot(double[] a, double[] b) => a.Select((v, e) => v * b[e]).Sum();
        var cosines = new List<double>();
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                cosines.Add(Math.Clamp(Dot(offsets[i], offsets[j]) / Math.Max(Math.Sqrt(Dot(offsets[i], offsets[i])) * Math.Sqrt(Dot(offsets[j], offsets[j])), 1e-6), -1, 1));
        double cos = cosines.Average(), t = n * cos / (1 + (n - 1) * cos);
        return w0.Select((v, e) => t * ws.Average(w => w[e]) + (1 - t) * v).ToArray();
    }
}
