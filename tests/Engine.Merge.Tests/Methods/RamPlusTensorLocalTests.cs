namespace Engine.Merge.Tests.Methods;

/// <summary>ramplus_tl: RAM with each model's unique changes amplified by its tensor-local shared/unique ratio.</summary>
public sealed class RamPlusTensorLocalTests
{
    private static string Yaml(int models, string globals = "{}") =>
        "merge_method: ramplus_tl\nbase_model: base\nmodels:\n" + string.Concat(Enumerable.Range(0, models).Select(i => $"  - model: m{i}\n")) + $"parameters: {globals}\n";

    [Fact]
    public void HandComputed()
    {
        // Deltas (base 0.25): m0 changes e0 (with m1), e1, e2 alone -> shared 1, unique 2, rho 0.5, lambda 1 + 0.5 = 1.5.
        // m1 changes e0 (with m0), e3 (with m2) -> no unique change. m2 changes e3 (with m1), e4 alone -> rho 1, lambda 2.
        const float b = 0.25f;
        var merged = MethodHarness.Merge(Yaml(3, "{r: 1, alpha: 5}"), new Dictionary<string, float[]>
        {
            ["base"] = [b, b, b, b, b, b],
            ["m0"] = [b + 1, b + 1, b + 1, b, b, b],
            ["m1"] = [b + 3, b, b, b + 1, b, b],
            ["m2"] = [b, b, b, b + 3, b + 1, b],
        }, 6);
        MethodHarness.Close(new double[] { b + 2, b + 1.5, b + 1.5, b + 2, b + 2, b }, merged, atol: 0, rtol: 0);
    }

    [Fact]
    public void RatioIsCappedAtAlphaAndAModelWithoutUniqueChangesGetsTheCap()
    {
        // m0: one shared, no unique -> rho = 1 / eps, capped at alpha 0.2: lambda = 1 + 0.1 * 0.2 (defaults).
        // m1: one shared, one unique -> rho 1, capped: its unique change is scaled by 1.02.
        var merged = MethodHarness.Merge(Yaml(2), new Dictionary<string, float[]>
        {
            ["base"] = [0, 0], ["m0"] = [1, 0], ["m1"] = [3, 2],
        }, 2);
        MethodHarness.Close(new double[] { 2, 2 * 1.02f }, merged, atol: 0, rtol: 1e-7);
    }

    [Fact]
    public void WithoutAmplificationItIsRam()
    {
        const int n = 50_000;
        var tensors = MethodHarness.Family(95, n, "m0", "m1", "m2");
        foreach (var (name, i) in new[] { ("m0", 0), ("m1", 1), ("m2", 2) })
            for (int e = i; e < n; e += 2 + i) tensors[name][e] = tensors["base"][e];
        var plus = MethodHarness.Run(Yaml(3, "{r: 0, epsilon: 0.001}"), tensors, [n], chunk: 9_999).Values;
        var ram = MethodHarness.Merge(Yaml(3, "{epsilon: 0.001}").Replace("ramplus_tl", "ram"), tensors, n);
        MethodHarness.Close(ram, plus, atol: 1e-6, rtol: 1e-6);
    }

    [Fact]
    public void MatchesFloat64ReferenceOnRandomTensors()
    {
        const int n = 40_000;
        var tensors = MethodHarness.Family(96, n, "m0", "m1");
        for (int e = 0; e < n; e += 3) tensors["m0"][e] = tensors["base"][e];
        for (int e = 1; e < n; e += 5) tensors["m1"][e] = tensors["base"][e];
        var merged = MethodHarness.Run(Yaml(2, "{r: 0.5, alpha: 0.3}"), tensors, [n], chunk: 7_777).Values;

        double eps = 1e-5;
        var d = new[] { "m0", "m1" }.Select(m => tensors[m].Select((x, e) => (double)(x - tensors["base"][e])).ToArray()).ToArray();
        var lambda = new double[2];
        for (int i = 0; i < 2; i++)
        {
            long shared = 0, unique = 0;
            for (int e = 0; e < n; e++)
            {
                if (Math.Abs(d[i][e]) <= eps) continue;
                if (Math.Abs(d[1 - i][e]) > eps) shared++; else unique++;
            }
            lambda[i] = 1 + 0.5 * Math.Clamp(shared / Math.Max(unique, eps), 0, 0.3);
        }
        var expected = new double[n];
        for (int e = 0; e < n; e++)
        {
            int count = d.Count(x => Math.Abs(x[e]) > eps);
            expected[e] = tensors["base"][e] + Enumerable.Range(0, 2).Where(i => Math.Abs(d[i][e]) > eps).Sum(i => count == 1 ? lambda[i] * d[i][e] : d[i][e] / count);
        }
        MethodHarness.Close(expected, merged, atol: 1e-6, rtol: 1e-5);
    }
}
