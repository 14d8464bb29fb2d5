namespace Engine.Merge.Tests.Methods;

public sealed class SceTests
{
    private static string Yaml(int models, string globals = "{}") =>
        "merge_method: sce\nbase_model: base\nmodels:\n" + string.Concat(Enumerable.Range(0, models).Select(i => $"  - model: m{i}\n")) + $"parameters: {globals}\n";

    [Fact]
    public void HandComputed()
    {
        // Deltas a = (1, -1, 2), b = (3, 1, -2): mean squares 2 and 14/3, weights 0.3 and 0.7.
        // Elected signs from (4, 0, 0): +, + (sum 0 counts as +), +.
        // e0: (0.3*1 + 0.7*3) / 1 = 2.4; e1: only b agrees: 0.7*1/0.7 = 1; e2: only a: 2.
        var merged = MethodHarness.Merge(Yaml(2), new Dictionary<string, float[]> { ["base"] = [0, 0, 0], ["m0"] = [1, -1, 2], ["m1"] = [3, 1, -2] }, 3);
        MethodHarness.Close(new[] { 2.4, 1, 2 }, merged, atol: 1e-6);
    }

    [Theory]
    [InlineData(3, 1.0)]
    [InlineData(3, 0.3)]
    [InlineData(2, 0.75)]
    public void MatchesFloat64Reference(int models, double topk)
    {
        const int n = 70_003;
        var names = Enumerable.Range(0, models).Select(i => $"m{i}").ToArray();
        var tensors = MethodHarness.Family(81, n, names);
        var merged = MethodHarness.Run(Yaml(models, $"{{select_topk: {topk:R}}}"), tensors, [n], chunk: 9_999).Values;
        MethodHarness.Close(Reference(tensors["base"], names.Select(m => tensors[m]).ToArray(), topk), merged, atol: 1e-7, rtol: 1e-5);
    }

    [Fact]
    public void MergingTheBaseWithItselfReturnsIt()
    {
        var x = MethodHarness.Random(82, 4000);
        MethodHarness.Exact(x, MethodHarness.Merge(Yaml(2, "{select_topk: 0.5}"), new Dictionary<string, float[]> { ["base"] = x, ["m0"] = x, ["m1"] = x }, 4000));
    }

    /// <summary>mergekit's sce_merge (mergekit/merge_methods/sce.py) in float64, variance ties by position.</summary>
    private static double[] Reference(float[] b, float[][] models, double topk)
    {
        int k = models.Length, n = b.Length;
        var tv = models.Select(m => m.Select((v, e) => (double)v - b[e]).ToArray()).ToArray();
        if (topk < 1)
        {
            var variance = new float[n];
            for (int e = 0; e < n; e++)
            {
                double mean = tv.Average(t => t[e]);
                variance[e] = (float)(tv.Sum(t => (t[e] - mean) * (t[e] - mean)) / k);
            }
            long keep = (long)(variance.Count(v => v != 0) * topk);
            var order = Enumerable.Range(0, n).OrderBy(e => variance[e]).ThenBy(e => e).ToArray();
            var mask = new bool[n];
            for (long r = n - keep; r < n; r++) mask[order[r]] = true;
            foreach (var t in tv)
                for (int e = 0; e < n; e++) if (!mask[e]) t[e] = 0;
        }
        var weights = tv.Select(t => t.Average(v => v * v)).ToArray();
        double sum = weights.Sum();
        weights = Math.Abs(sum) < 1e-6 ? weights.Select(_ => 1.0 / k).ToArray() : weights.Select(w => w / sum).ToArray();
        var result = new double[n];
        for (int e = 0; e < n; e++)
        {
            int majority = tv.Sum(t => t[e]) >= 0 ? 1 : -1;
            double mixed = 0, divisor = 0;
            for (int i = 0; i < k; i++)
            {
                if (Math.Sign(tv[i][e]) != majority) continue;
                mixed += tv[i][e] * weights[i];
                divisor += weights[i];
            }
            result[e] = b[e] + mixed / Math.Max(divisor, 1e-6);
        }
        return result;
    }
}
