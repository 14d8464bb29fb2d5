using Engine.Merge.Config;
using Engine.Merge.Methods;

namespace Engine.Merge.Tests.Methods;

/// <summary>task_arithmetic, ties, dare_ties, dare_linear, breadcrumbs, breadcrumbs_ties, della, della_linear.</summary>
public sealed class TaskArithmeticFamilyTests
{
    private static string Yaml(string method, string modelParameters, string globals = "{}", int seed = 0, int models = 2) => $"""
        merge_method: {method}
        base_model: base
        models:
        {string.Join("\n", Enumerable.Range(0, models).Select(i => $"  - model: m{i}\n    parameters: {modelParameters.Replace("#", (0.3 + 0.4 * i).ToString(System.Globalization.CultureInfo.InvariantCulture))}"))}
        parameters: {globals}
        seed: {seed}
        """;

    [Fact]
    public void TaskArithmeticHandComputed()
    {
        const string yaml = """
            merge_method: task_arithmetic
            base_model: base
            models:
              - model: a
                parameters: {weight: 0.5}
              - model: b
                parameters: {weight: 1}
            """;
        var merged = MethodHarness.Merge(yaml, new Dictionary<string, float[]> { ["base"] = [1, 2], ["a"] = [2, 2], ["b"] = [1, 4] }, 2);
        MethodHarness.Close(new double[] { 1.5, 4 }, merged);
    }

    [Fact]
    public void TiesHandComputed()
    {
        // a keeps its two largest |deltas| (3, -2); b's |deltas| tie at 1 three times: the later position wins (2, then 3).
        // Elected signs: +, -, +, + ; normalised by the agreeing weights (1 each).
        const string yaml = """
            merge_method: ties
            base_model: base
            models:
              - model: a
                parameters: {weight: 1, density: 0.5}
              - model: b
                parameters: {weight: 1, density: 0.5}
            """;
        var tensors = new Dictionary<string, float[]> { ["base"] = [0, 0, 0, 0], ["a"] = [1, -2, 3, 0.5f], ["b"] = [-1, 1, -1, 2] };
        MethodHarness.Close(new double[] { 0, -2, 3, 2 }, MethodHarness.Merge(yaml, tensors, 4));
    }

    [Fact]
    public void BreadcrumbsHandComputed()
    {
        // n = 10, density 0.5, gamma 0.1: drop the largest one and the four smallest.
        const string yaml = """
            merge_method: breadcrumbs
            base_model: base
            models:
              - model: a
                parameters: {weight: 1, density: 0.5, gamma: 0.1}
            """;
        var b = new float[10];
        var a = Enumerable.Range(1, 10).Select(i => (float)i).ToArray();
        var merged = MethodHarness.Merge(yaml, new Dictionary<string, float[]> { ["base"] = b, ["a"] = a }, 10);
        MethodHarness.Close(new double[] { 0, 0, 0, 0, 5, 6, 7, 8, 9, 0 }, merged);
    }

    [Fact]
    public void BreadcrumbsWithNoOutlierToDropKeepsTheLargest()
    {
        // floor(0.01 * 10) = 0 outliers: keep ranks [5, 10) (mergekit's slice [5:-0] would keep nothing).
        const string yaml = """
            merge_method: breadcrumbs
            base_model: base
            models:
              - model: a
                parameters: {weight: 1, density: 0.5}
            """;
        var a = Enumerable.Range(1, 10).Select(i => (float)i).ToArray();
        var merged = MethodHarness.Merge(yaml, new Dictionary<string, float[]> { ["base"] = new float[10], ["a"] = a }, 10);
        MethodHarness.Close(new double[] { 0, 0, 0, 0, 0, 6, 7, 8, 9, 10 }, merged);
    }

    [Fact]
    public void DareAtDensityOneIsTaskArithmeticAndAtZeroIsTheBase()
    {
        var tensors = MethodHarness.Family(7, 5000, "m0", "m1");
        var ta = MethodHarness.Merge(Yaml("task_arithmetic", "{weight: #}"), tensors, 5000);
        MethodHarness.Exact(ta, MethodHarness.Merge(Yaml("dare_linear", "{weight: #, density: 1}"), tensors, 5000));
        MethodHarness.Exact(tensors["base"], MethodHarness.Merge(Yaml("dare_linear", "{weight: #, density: 0}"), tensors, 5000));
    }

    [Fact]
    public void TiesAtDensityOneWithOneModelEqualsTaskArithmetic()
    {
        var tensors = MethodHarness.Family(8, 4097, "m0");
        var ta = MethodHarness.Merge(Yaml("task_arithmetic", "{weight: 1}", models: 1), tensors, 4097);
        var ties = MethodHarness.Merge(Yaml("ties", "{weight: 1, density: 1}", models: 1), tensors, 4097);
        MethodHarness.Exact(ta, ties);
        // With a weight other than 1, ties normalises it away unless normalize is off.
        var ta2 = MethodHarness.Merge(Yaml("task_arithmetic", "{weight: #}", models: 1), tensors, 4097);
        var ties2 = MethodHarness.Merge(Yaml("ties", "{weight: #, density: 1}", "{normalize: false}", models: 1), tensors, 4097);
        MethodHarness.Exact(ta2, ties2);
    }

    public static TheoryData<string, string, string> Cases => new()
    {
        { "task_arithmetic", "{weight: #}", "{lambda: 0.8}" },
        { "task_arithmetic", "{weight: #}", "{normalize: true}" },
        { "ties", "{weight: #, density: 0.4}", "{}" },
        { "ties", "{weight: #, density: 0.4}", "{rescale: true, normalize: false}" },
        { "dare_ties", "{weight: #, density: 0.3}", "{}" },
        { "dare_linear", "{weight: #, density: 0.6}", "{lambda: 1.5}" },
        { "dare_linear", "{weight: #, density: 0.6}", "{rescale: false}" },
        { "breadcrumbs", "{weight: #, density: 0.7, gamma: 0.05}", "{}" },
        { "breadcrumbs_ties", "{weight: #, density: 0.7, gamma: 0.05}", "{}" },
        { "della", "{weight: #, density: 0.5, epsilon: 0.2}", "{}" },
        { "della_linear", "{weight: #, density: 0.5}", "{}" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesFloat64Reference(string method, string modelParameters, string globals)
    {
        const int rows = 37, columns = 1901; // 70,337 elements: several blocks and a remainder
        int n = rows * columns;
        var tensors = MethodHarness.Family(11, n, "m0", "m1", "m2");
        string yaml = Yaml(method, modelParameters, globals, seed: 42, models: 3);
        var doc = MethodHarness.Document(yaml);
        var merged = MethodHarness.Run(yaml, tensors, [rows, columns], chunk: 30_001).Values;
        var expected = TaskArithmeticReference.Merge(method, doc, tensors, columns);
        MethodHarness.Close(expected, merged, atol: 1e-7, rtol: 1e-5, what: method);
    }

    [Theory]
    [InlineData("dare_ties")]
    [InlineData("dare_linear")]
    [InlineData("della")]
    [InlineData("della_linear")]
    public void SeededMethodsRepeatBitIdenticallyAndDependOnTheSeed(string method)
    {
        var tensors = MethodHarness.Family(12, 50_000, "m0", "m1");
        var first = MethodHarness.Run(Yaml(method, "{weight: #, density: 0.5}", seed: 9), tensors, [50, 1000], chunk: 50_000).Values;
        var again = MethodHarness.Run(Yaml(method, "{weight: #, density: 0.5}", seed: 9), tensors, [50, 1000], chunk: 333).Values;
        var other = MethodHarness.Run(Yaml(method, "{weight: #, density: 0.5}", seed: 10), tensors, [50, 1000], chunk: 333).Values;
        MethodHarness.Exact(first, again, method);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public void DareKeepsAboutDensityOfTheElements()
    {
        var tensors = MethodHarness.Family(13, 200_000, "m0");
        var stats = MethodHarness.Run(Yaml("dare_linear", "{weight: 1, density: 0.3}", models: 1), tensors, [200_000]).Stats;
        double kept = stats["kept_fractions"]![0]!.GetValue<double>();
        Assert.InRange(kept, 0.297, 0.303);
    }

    [Theory]
    [InlineData("task_arithmetic")]
    [InlineData("ties")]
    [InlineData("dare_ties")]
    [InlineData("breadcrumbs_ties")]
    [InlineData("della")]
    public void MergingTheBaseWithItselfReturnsIt(string method)
    {
        var x = MethodHarness.Random(14, 3000);
        var tensors = new Dictionary<string, float[]> { ["base"] = x, ["m0"] = x, ["m1"] = x };
        MethodHarness.Exact(x, MethodHarness.Merge(Yaml(method, "{weight: #, density: 0.5}"), tensors, 3000), method);
    }

    [Fact]
    public void DellaRejectsEpsilonOutsideTheDensityRange()
    {
        var tensors = MethodHarness.Family(15, 100, "m0");
        var e = Assert.Throws<MergeConfigException>(() => MethodHarness.Merge(Yaml("della", "{weight: 1, density: 0.9, epsilon: 0.2}", models: 1), tensors, 100));
        Assert.Contains("epsilon", e.Message);
    }

    [Fact]
    public void NeedsABaseAndWarnsAboutInt8Mask()
    {
        var e = Assert.Throws<MergeConfigException>(() => MethodHarness.Document("""
            merge_method: ties
            models:
              - model: a
                parameters: {weight: 1}
            """));
        Assert.Contains("base_model", e.Message);
        var config = MergeConfigReader.Parse("test.yml", Yaml("ties", "{weight: 1}", "{int8_mask: true}"));
        Assert.Contains(config.Warnings, w => w.Contains("int8_mask"));
    }

    [Fact]
    public void GlobalDensityAppliesToEveryModel()
    {
        var tensors = MethodHarness.Family(16, 1000, "m0", "m1");
        var perModel = MethodHarness.Merge(Yaml("ties", "{weight: #, density: 0.25}"), tensors, 1000);
        var global = MethodHarness.Merge(Yaml("ties", "{weight: #}", "{density: 0.25}"), tensors, 1000);
        MethodHarness.Exact(perModel, global);
    }
}

/// <summary>Float64 reference of mergekit's generalised task arithmetic, written from
/// mergekit/merge_methods/generalized_task_arithmetic.py and mergekit/sparsify.py with the engine's documented
/// tie and seeding rules; algorithmic reference, never optimise.</summary>
internal static class TaskArithmeticReference
{
    public static double[] Merge(string method, MergeDocument doc, Dictionary<string, float[]> tensors, int rowLength)
    {
        var (consensus, sparsification, normalizeDefault, rescaleDefault) = method switch
        {
            "task_arithmetic" => (false, "none", false, false),
            "ties" => (true, "magnitude", true, false),
            "dare_ties" => (true, "random", false, true),
            "dare_linear" => (false, "random", false, true),
            "breadcrumbs" => (false, "outliers", false, false),
            "breadcrumbs_ties" => (true, "outliers", false, false),
            "della" => (true, "della", true, true),
            "della_linear" => (false, "della", false, true),
            _ => throw new ArgumentException(method),
        };
        double Global(string name, double fallback) => doc.Parameters.Evaluate(name, "", 0) switch
        {
            double d => d,
            bool b => b ? 1 : 0,
            _ => fallback,
        };
        bool normalize = Global("normalize", normalizeDefault ? 1 : 0) != 0;
        bool rescale = Global("rescale", rescaleDefault ? 1 : 0) != 0;
        double lambda = Global("lambda", 1);
        var b = tensors["base"];
        int n = b.Length;
        var models = doc.Models.Where(m => m.Model != doc.BaseModel).ToList();
        var deltas = new List<double[]>();
        var weights = new List<double>();
        for (int i = 0; i < models.Count; i++)
        {
            double P(string name, double fallback) => models[i].Parameters.Evaluate(name, "", 0) is double d ? d : Global(name, fallback);
            var x = tensors[models[i].Model];
            var d = new double[n];
            for (int e = 0; e < n; e++) d[e] = x[e] - (double)b[e];
            double density = P("density", 1);
            if (sparsification != "none" && density < 1)
            {
                var keep = sparsification switch
                {
                    "magnitude" => RankWindow(d, 0, n, n - (long)(density * n), n),
                    "outliers" => Outliers(d, density, P("gamma", 0.01)),
                    "random" => Random(n, CounterRandom.For(doc.Seed, MethodHarness.TensorName, i), _ => density),
                    "della" => Della(d, rowLength, density, P("epsilon", 0.15), CounterRandom.For(doc.Seed, MethodHarness.TensorName, i)),
                    _ => throw new ArgumentException(sparsification),
                };
                double before = d.Sum(Math.Abs), after = 0;
                for (int e = 0; e < n; e++)
                {
                    if (!keep[e]) d[e] = 0;
                    after += Math.Abs(d[e]);
                }
                if (rescale && before >= 1e-7 && after >= 1e-7)
                {
                    for (int e = 0; e < n; e++) d[e] *= before / after;
                }
            }
            deltas.Add(d);
            weights.Add(P("weight", double.NaN));
        }
        var result = new double[n];
        for (int e = 0; e < n; e++)
        {
            double mixed = 0, divisor = 0, sum = 0;
            for (int i = 0; i < deltas.Count; i++) sum += weights[i] * deltas[i][e];
            for (int i = 0; i < deltas.Count; i++)
            {
                double wd = weights[i] * deltas[i][e];
                if (consensus && Math.Sign(wd) != (sum >= 0 ? 1 : -1)) continue;
                mixed += wd;
                divisor += weights[i];
            }
            if (consensus ? divisor == 0 : Math.Abs(divisor) < 1e-8) divisor = 1;
            if (normalize) mixed /= divisor;
            result[e] = b[e] + lambda * mixed;
        }
        return result;
    }

    /// <summary>Stable ascending order of |d| over [from, to): keep ranks [lo, hi).</summary>
    private static bool[] RankWindow(double[] d, int from, int to, long lo, long hi, bool[]? keep = null)
    {
        keep ??= new bool[d.Length];
        var order = Enumerable.Range(from, to - from).OrderBy(e => (float)Math.Abs(d[e])).ThenBy(e => e).ToArray();
        for (int r = 0; r < order.Length; r++) keep[order[r]] = r >= lo && r < hi;
        return keep;
    }

    private static bool[] Outliers(double[] d, double density, double gamma)
    {
        long n = d.Length, target = (long)(density * n), top = (long)(gamma * n), bottom = n - target - top;
        if (bottom < 0)
        {
            top += bottom;
            bottom = 0;
        }
        return RankWindow(d, 0, d.Length, bottom, n - top);
    }

    private static bool[] Random(int n, CounterRandom random, Func<int, double> p) =>
        Enumerable.Range(0, n).Select(e => random.Uniform(e) < p(e)).ToArray();

    private static bool[] Della(double[] d, int rowLength, double density, double epsilon, CounterRandom random)
    {
        var p = new double[d.Length];
        for (int row = 0; row < d.Length / rowLength; row++)
        {
            var order = Enumerable.Range(row * rowLength, rowLength).OrderBy(e => (float)Math.Abs(d[e])).ThenBy(e => e).ToArray();
            for (int r = 0; r < order.Length; r++) p[order[r]] = density - epsilon + (double)r / (rowLength - 1) * 2 * epsilon;
        }
        return Random(d.Length, random, e => p[e]);
    }
}
