using Engine.Core;
using Engine.Merge.Config;

namespace Engine.Merge.Tests.Methods;

/// <summary>nearswap, ram and passthrough.</summary>
public sealed class ElementwiseMethodTests
{
    private const string NearSwapYaml = """
        merge_method: nearswap
        base_model: base
        models: [base, m]
        parameters: {t: 0.5}
        """;

    [Fact]
    public void NearSwapHandComputed()
    {
        // |diff| = 0.25 -> w = 1 (take m); 1 -> w = 0.5; 4 -> w = 0.125; 0 -> w = 1.
        var merged = MethodHarness.Merge(NearSwapYaml, new Dictionary<string, float[]> { ["base"] = [0, 0, 0, 3], ["m"] = [0.25f, 1, -4, 3] }, 4);
        MethodHarness.Close(new[] { 0.25, 0.5, -0.5, 3 }, merged);
    }

    [Fact]
    public void NearSwapMatchesFloat64Reference()
    {
        const int n = 66_000;
        var tensors = new Dictionary<string, float[]> { ["base"] = MethodHarness.Random(91, n), ["m"] = MethodHarness.Random(92, n) };
        var merged = MethodHarness.Run(NearSwapYaml, tensors, [n], chunk: 12_345).Values;
        var expected = tensors["base"].Select((a, e) =>
        {
            double b = tensors["m"][e], w = Math.Clamp(0.5 / Math.Max(Math.Abs(a - b), 1e-6), 0, 1);
            return w * b + (1 - w) * a;
        }).ToArray();
        MethodHarness.Close(expected, merged, atol: 1e-6);
        MethodHarness.Exact(tensors["base"], MethodHarness.Merge(NearSwapYaml, new Dictionary<string, float[]> { ["base"] = tensors["base"], ["m"] = tensors["base"] }, n));
    }

    private static string RamYaml(int models, string globals = "{}") =>
        "merge_method: ram\nbase_model: base\nmodels:\n" + string.Concat(Enumerable.Range(0, models).Select(i => $"  - model: m{i}\n")) + $"parameters: {globals}\n";

    [Fact]
    public void RamHandComputed()
    {
        // e0: only m0 changed -> +1; e1: both -> mean(2, 4) = 3; e2: changes under epsilon -> none; e3: m1 only -> -5.
        var merged = MethodHarness.Merge(RamYaml(2, "{epsilon: 0.01}"), new Dictionary<string, float[]>
        {
            ["base"] = [10, 10, 10, 10], ["m0"] = [11, 12, 10.005f, 10], ["m1"] = [10, 14, 9.995f, 5],
        }, 4);
        MethodHarness.Close(new double[] { 11, 13, 10, 5 }, merged);
    }

    [Fact]
    public void RamMatchesFloat64Reference()
    {
        const int n = 70_000;
        var tensors = MethodHarness.Family(93, n, "m0", "m1", "m2");
        // Leave some elements untouched so unique and shared changes both occur.
        foreach (var (name, i) in new[] { ("m0", 0), ("m1", 1), ("m2", 2) })
            for (int e = i; e < n; e += 2 + i) tensors[name][e] = tensors["base"][e];
        var merged = MethodHarness.Run(RamYaml(3, "{epsilon: 0.001}"), tensors, [n], chunk: 8_192).Values;
        var expected = new double[n];
        for (int e = 0; e < n; e++)
        {
            double sum = 0;
            int count = 0;
            foreach (var m in new[] { "m0", "m1", "m2" })
            {
                double d = tensors[m][e] - (double)tensors["base"][e];
                if (Math.Abs(d) > 0.001)
                {
                    sum += d;
                    count++;
                }
            }
            expected[e] = tensors["base"][e] + sum / Math.Max(1, count);
        }
        MethodHarness.Close(expected, merged, atol: 1e-7);
    }

    [Fact]
    public void RamOfTheBaseWithItselfReturnsIt()
    {
        var x = MethodHarness.Random(94, 3000);
        MethodHarness.Exact(x, MethodHarness.Merge(RamYaml(2), new Dictionary<string, float[]> { ["base"] = x, ["m0"] = x, ["m1"] = x }, 3000));
    }

    [Fact]
    public void PassthroughCopiesAndScales()
    {
        var x = MethodHarness.Random(95, 1000);
        MethodHarness.Exact(x, MethodHarness.Merge("merge_method: passthrough\nmodels: [a]\n", new Dictionary<string, float[]> { ["a"] = x }, 1000));
        var scaled = MethodHarness.Merge("merge_method: passthrough\nmodels:\n  - model: a\n    parameters: {scale: 0.5}\n", new Dictionary<string, float[]> { ["a"] = x }, 1000);
        MethodHarness.Exact(x.Select(v => v * 0.5f).ToArray(), scaled);
        var baseOnly = MethodHarness.Run("merge_method: passthrough\nbase_model: a\n", new Dictionary<string, float[]> { ["a"] = x }, [1000], outDType: DType.BF16).Values;
        MethodHarness.Close(x, baseOnly, atol: 0, rtol: 1.0 / 256);
    }

    [Fact]
    public void PassthroughTakesExactlyOneModel()
    {
        var e = Assert.Throws<MergeConfigException>(() => MethodHarness.Document("merge_method: passthrough\nbase_model: a\nmodels: [a, b]\n"));
        Assert.Contains("exactly one", e.Message);
    }
}
