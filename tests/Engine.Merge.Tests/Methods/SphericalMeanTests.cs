using Engine.Merge.Config;
using Engine.Merge.Methods;

namespace Engine.Merge.Tests.Methods;

/// <summary>multislerp and karcher.</summary>
public sealed class SphericalMeanTests
{
    private static string MultiSlerpYaml(bool withBase, int models, string globals = "{}") =>
        "merge_method: multislerp\n" + (withBase ? "base_model: base\n" : "") + "models:\n" +
        string.Concat(Enumerable.Range(0, models).Select(i => $"  - model: m{i}\n    parameters: {{ weight: {(i + 1) * 0.25:R} }}\n")) +
        $"parameters: {globals}\n";

    private static string KarcherYaml(bool withBase, int models, string globals = "{}") =>
        "merge_method: karcher\n" + (withBase ? "base_model: base\n" : "") + "models:\n" +
        string.Concat(Enumerable.Range(0, models).Select(i => $"  - model: m{i}\n")) + $"parameters: {globals}\n";

    [Fact]
    public void MultiSlerpHandComputed()
    {
        // Orthogonal unit vectors with equal weights: the normalised mean direction, norm 1.
        const string yaml = """
            merge_method: multislerp
            models:
              - model: a
                parameters: {weight: 1}
              - model: b
                parameters: {weight: 1}
            """;
        var merged = MethodHarness.Merge(yaml, new Dictionary<string, float[]> { ["a"] = [1, 0], ["b"] = [0, 1] }, 2);
        MethodHarness.Close(new[] { Math.Sqrt(0.5), Math.Sqrt(0.5) }, merged, atol: 1e-7);
        // Norms 2 and 4, weights 1/2 each: direction still the diagonal, norm (2 + 4) / 2 = 3.
        var scaled = MethodHarness.Merge(yaml, new Dictionary<string, float[]> { ["a"] = [2, 0], ["b"] = [0, 4] }, 2);
        MethodHarness.Close(new[] { 3 * Math.Sqrt(0.5), 3 * Math.Sqrt(0.5) }, scaled, atol: 1e-6);
    }

    [Theory]
    [InlineData(false, 3, "{}")]
    [InlineData(true, 3, "{}")]
    [InlineData(true, 2, "{normalize_weights: false}")]
    [InlineData(false, 4, "{}")]
    public void MultiSlerpMatchesMergekitsAlgorithmInFloat64(bool withBase, int models, string globals)
    {
        const int n = 70_000;
        var names = Enumerable.Range(0, models).Select(i => $"m{i}").ToArray();
        var tensors = MethodHarness.Family(41, n, names);
        if (!withBase)
        {
            for (int i = 0; i < models; i++) tensors[names[i]] = MethodHarness.Random(50 + i, n, 1, MethodHarness.Random(49, n));
        }
        var merged = MethodHarness.Run(MultiSlerpYaml(withBase, models, globals), tensors, [n], chunk: 30_000).Values;
        var weights = Enumerable.Range(0, models).Select(i => (i + 1) * 0.25).ToArray();
        var expected = MultiSlerpReference(names.Select(m => tensors[m]).ToArray(), weights, withBase ? tensors["base"] : null, !globals.Contains("false"));
        // Float32 accumulation over inputs of unit scale (no base) rounds at about 1e-7 absolute.
        MethodHarness.Close(expected, merged, atol: withBase ? 1e-7 : 1e-6, rtol: 2e-5);
    }

    [Fact]
    public void MultiSlerpOfIdenticalModelsReturnsThem()
    {
        var x = MethodHarness.Random(42, 5000);
        var merged = MethodHarness.Merge(MultiSlerpYaml(false, 3), new Dictionary<string, float[]> { ["m0"] = x, ["m1"] = x, ["m2"] = x }, 5000);
        MethodHarness.Close(x, merged, atol: 0, rtol: 1e-6);
        var withBase = MethodHarness.Merge(MultiSlerpYaml(true, 3), new Dictionary<string, float[]> { ["base"] = x, ["m0"] = x, ["m1"] = x, ["m2"] = x }, 5000);
        MethodHarness.Exact(x, withBase);
    }

    [Fact]
    public void MultiSlerpOfAntipodalModelsIsAnErrorBeyondTwo()
    {
        var a = MethodHarness.Random(43, 100);
        var minus = a.Select(v => -v).ToArray();
        const string yaml = """
            merge_method: multislerp
            models:
              - model: m0
                parameters: {weight: 1}
              - model: m1
                parameters: {weight: 1}
              - model: m2
                parameters: {weight: 2}
            """;
        var e = Assert.Throws<MergeConfigException>(() => MethodHarness.Merge(yaml, new Dictionary<string, float[]> { ["m0"] = a, ["m1"] = a, ["m2"] = minus }, 100));
        Assert.Contains(MethodHarness.TensorName, e.Message);
    }

    [Fact]
    public void KarcherHandComputed()
    {
        // Two orthogonal directions: the geodesic midpoint (1, 1)/sqrt 2, scaled by the mean norm (1 + 3) / 2.
        var merged = MethodHarness.Merge(KarcherYaml(false, 2), new Dictionary<string, float[]> { ["m0"] = [1, 0], ["m1"] = [0, 3] }, 2);
        MethodHarness.Close(new[] { 2 * Math.Sqrt(0.5), 2 * Math.Sqrt(0.5) }, merged, atol: 1e-6);
    }

    [Theory]
    [InlineData(false, 3, "{}")]
    [InlineData(true, 2, "{}")]
    [InlineData(false, 4, "{max_iter: 3}")]
    [InlineData(false, 3, "{max_iter: 50, tol: 1e-9}")]
    public void KarcherMatchesMergekitsAlgorithmInFloat64(bool withBase, int models, string globals)
    {
        const int n = 40_000;
        var names = Enumerable.Range(0, models).Select(i => $"m{i}").ToArray();
        var tensors = new Dictionary<string, float[]>();
        var center = MethodHarness.Random(60, n);
        foreach (var name in names.Append("base")) tensors[name] = MethodHarness.Random(61 + tensors.Count, n, 0.8, center);
        var merged = MethodHarness.Run(KarcherYaml(withBase, models, globals), tensors, [n], chunk: 25_000).Values;
        var inputs = (withBase ? new[] { "base" } : []).Concat(names).Select(m => tensors[m]).ToArray();
        int maxIter = globals.Contains("max_iter: 3") ? 3 : globals.Contains("50") ? 50 : 10;
        double tol = globals.Contains("1e-9") ? 1e-9 : 1e-5;
        MethodHarness.Close(KarcherReference(inputs, maxIter, tol), merged, atol: 1e-6, rtol: 1e-5);
    }

    [Fact]
    public void KarcherOfIdenticalModelsReturnsThem()
    {
        var x = MethodHarness.Random(44, 5000);
        var merged = MethodHarness.Merge(KarcherYaml(false, 3), new Dictionary<string, float[]> { ["m0"] = x, ["m1"] = x, ["m2"] = x }, 5000);
        MethodHarness.Close(x, merged, atol: 0, rtol: 1e-6);
    }

    [Fact]
    public void KarcherSolveConvergesToTheIntrinsicMeanOfThreeDirections()
    {
        // Unit vectors at angles 0, 60 and 120 degrees in a plane: the Karcher mean is the 60 degree direction.
        double[][] x = [[1, 0], [0.5, Math.Sqrt(0.75)], [-0.5, Math.Sqrt(0.75)]];
        var gram = new double[9];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) gram[i * 3 + j] = x[i][0] * x[j][0] + x[i][1] * x[j][1];
        var (c, _) = Karcher.Solve(gram, 3, 100, 1e-12);
        double u0 = c[0] * x[0][0] + c[1] * x[1][0] + c[2] * x[2][0], u1 = c[0] * x[0][1] + c[1] * x[1][1] + c[2] * x[2][1];
        Assert.Equal(0.5, u0, 9);
        Assert.Equal(Math.Sqrt(0.75), u1, 9);
    }

    /// <summary>mergekit's multislerp (mergekit/merge_methods/multislerp.py) step by step in float64, tangent
    /// projection and exponential map included; algorithmic reference.</summary>
    private static double[] MultiSlerpReference(float[][] models, double[] weights, float[]? b, bool normalize)
    {
        int k = models.Length, n = models[0].Length;
        const double eps = 1e-8;
        var t = models.Select(m => m.Select((v, e) => v - (b?[e] ?? 0.0)).ToArray()).ToArray();
        var w = normalize ? weights.Select(x => x / weights.Sum()).ToArray() : weights;
        var norms = t.Select(v => Math.Sqrt(v.Sum(x => x * x))).ToArray();
        var units = t.Select((v, i) => v.Select(x => x / (norms[i] + eps)).ToArray()).ToArray();
        var mean = new double[n];
        for (int i = 0; i < k; i++)
            for (int e = 0; e < n; e++) mean[e] += w[i] * units[i][e];
        double meanNorm = Math.Sqrt(mean.Sum(x => x * x));
        for (int e = 0; e < n; e++) mean[e] /= meanNorm;
        var tangent = new double[n];
        for (int i = 0; i < k; i++)
        {
            double dot = 0;
            for (int e = 0; e < n; e++) dot += units[i][e] * mean[e];
            for (int e = 0; e < n; e++) tangent[e] += w[i] * (units[i][e] - dot * mean[e]);
        }
        double tangentNorm = Math.Sqrt(tangent.Sum(x => x * x)) + eps;
        double avgNorm = norms.Select((x, i) => x * w[i]).Sum();
        return mean.Select((m, e) => (m * Math.Cos(tangentNorm) + tangent[e] * Math.Sin(tangentNorm) / tangentNorm) * avgNorm + (b?[e] ?? 0.0)).ToArray();
    }

    /// <summary>mergekit's karcher_merge_tensors (mergekit/merge_methods/karcher.py) on full vectors in float64.</summary>
    private static double[] KarcherReference(float[][] models, int maxIter, double tol)
    {
        int k = models.Length, n = models[0].Length;
        double Norm(double[] v) => Math.Sqrt(v.Sum(x => x * x));
        var x = models.Select(m => m.Select(v => (double)v).ToArray()).ToArray();
        var norms = x.Select(Norm).ToArray();
        var units = x.Select((v, i) => v.Select(e => e / norms[i]).ToArray()).ToArray();
        double a = 1.0 / k;
        var u = new double[n];
        for (int i = 0; i < k; i++)
            for (int e = 0; e < n; e++) u[e] += a * units[i][e];
        double normU = Norm(u);
        for (int e = 0; e < n; e++) u[e] /= normU;
        for (int iter = 0; iter < maxIter; iter++)
        {
            var T = new double[n];
            for (int i = 0; i < k; i++)
            {
                double dot = 0;
                for (int e = 0; e < n; e++) dot += u[e] * units[i][e];
                dot = Math.Clamp(dot, -1, 1);
                double theta = Math.Acos(dot);
                if (theta < tol) continue;
                for (int e = 0; e < n; e++) T[e] += a * (theta / Math.Sin(theta)) * (units[i][e] - dot * u[e]);
            }
            double normT = Norm(T);
            if (normT < tol) break;
            for (int e = 0; e < n; e++) u[e] = Math.Cos(normT) * u[e] + Math.Sin(normT) * (T[e] / normT);
            double len = Norm(u);
            if (len > tol)
                for (int e = 0; e < n; e++) u[e] /= len;
        }
        double s = norms.Sum() * a;
        return u.Select(v => s * v).ToArray();
    }
}
