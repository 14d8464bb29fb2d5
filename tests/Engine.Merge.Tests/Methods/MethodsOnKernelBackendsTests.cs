using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Kernels;

namespace Engine.Merge.Tests.Methods;

/// <summary>The methods that run on the kernel contract, merged with the ILGPU kernels on ILGPU's CPU accelerator
/// (<c>--device ilgpu-cpu</c>) against the CPU backend. The simulator keeps the reference's float32 operation
/// order, so outputs must be bit-identical (the Gram sums differ in float64 rounding only, far below what moves a
/// float32 coefficient here); chunks of 1000 start inside mask words.</summary>
public sealed class MethodsOnKernelBackendsTests : IDisposable
{
    private readonly IMergeKernels _ilgpu = KernelBackends.Create("ilgpu-cpu", 2);

    public void Dispose() => _ilgpu.Dispose();

    private static string Models(string parameters, int count = 3) =>
        string.Concat(Enumerable.Range(0, count).Select(i => $"  - model: m{i}\n    parameters: {parameters.Replace("#", (0.2 + 0.3 * i).ToString(System.Globalization.CultureInfo.InvariantCulture))}\n"));

    public static TheoryData<string, string> Cases => new()
    {
        { "linear", "merge_method: linear\nmodels:\n" + Models("{weight: #}") },
        { "task_arithmetic", "merge_method: task_arithmetic\nbase_model: base\nmodels:\n" + Models("{weight: #}") + "parameters: {lambda: 0.8}\n" },
        { "ties", "merge_method: ties\nbase_model: base\nmodels:\n" + Models("{weight: #, density: 0.4}") },
        { "ties (rescaled)", "merge_method: ties\nbase_model: base\nmodels:\n" + Models("{weight: #, density: 0.6}", 2) + "parameters: {rescale: true, normalize: false}\n" },
        { "dare_ties", "merge_method: dare_ties\nbase_model: base\nmodels:\n" + Models("{weight: #, density: 0.3}") },
        { "dare_linear", "merge_method: dare_linear\nbase_model: base\nmodels:\n" + Models("{weight: #, density: 0.6}", 2) },
        { "breadcrumbs_ties", "merge_method: breadcrumbs_ties\nbase_model: base\nmodels:\n" + Models("{weight: #, density: 0.7, gamma: 0.05}", 2) },
        { "della_linear", "merge_method: della_linear\nbase_model: base\nmodels:\n" + Models("{weight: #, density: 0.5}", 2) },
        { "slerp", "merge_method: slerp\nbase_model: base\nmodels:\n  - model: base\n  - model: m0\nparameters: {t: 0.3}\n" },
        { "model_stock", "merge_method: model_stock\nbase_model: base\nmodels:\n" + Models("{}") },
        { "model_stock (filter_wise)", "merge_method: model_stock\nbase_model: base\nmodels:\n" + Models("{}") + "parameters: {filter_wise: true}\n" },
        { "sce", "merge_method: sce\nbase_model: base\nmodels:\n" + Models("{}") },
        { "sce (select_topk)", "merge_method: sce\nbase_model: base\nmodels:\n" + Models("{}") + "parameters: {select_topk: 0.4}\n" },
        { "nuslerp", "merge_method: nuslerp\nbase_model: base\nmodels:\n" + Models("{weight: #}", 2) },
        { "nuslerp (rows)", "merge_method: nuslerp\nmodels:\n" + Models("{weight: #}", 2) + "parameters: {nuslerp_flatten: false}\n" },
        { "nuslerp (columns)", "merge_method: nuslerp\nbase_model: base\nmodels:\n" + Models("{weight: #}", 2) + "parameters: {nuslerp_flatten: false, nuslerp_row_wise: true}\n" },
        { "ram", "merge_method: ram\nbase_model: base\nmodels:\n" + Models("{}") + "parameters: {epsilon: 0.001}\n" },
        { "ramplus_tl", "merge_method: ramplus_tl\nbase_model: base\nmodels:\n" + Models("{}") + "parameters: {epsilon: 0.001, r: 0.5}\n" },
        { "nearswap", "merge_method: nearswap\nbase_model: base\nmodels:\n" + Models("{}", 1) + "parameters: {t: 0.002}\n" },
        { "karcher", "merge_method: karcher\nmodels:\n" + Models("{}") },
        { "multislerp", "merge_method: multislerp\nbase_model: base\nmodels:\n" + Models("{weight: #}") },
        { "passthrough", "merge_method: passthrough\nmodels:\n  - model: m1\n    parameters: {scale: 0.5}\n" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void IlgpuKernelsGiveTheCpuResult(string name, string yaml)
    {
        var tensors = MethodHarness.Family(91, 30 * 101, "m0", "m1", "m2");
        foreach (var dtype in new[] { DType.F32, DType.BF16 })
        {
            var (expected, expectedStats) = MethodHarness.Run(yaml, tensors, [30, 101], chunk: 1000, outDType: dtype);
            var (actual, actualStats) = MethodHarness.Run(yaml, tensors, [30, 101], chunk: 1000, outDType: dtype, kernels: _ilgpu);
            MethodHarness.Exact(expected, actual, $"{name} {dtype}");
            AssertStatsAgree(expectedStats, actualStats, $"{name} {dtype}");
        }
    }

    /// <summary>The same statistics; numbers derived from Gram sums (cos_theta) may differ in float64 rounding.</summary>
    private static void AssertStatsAgree(JsonNode? expected, JsonNode? actual, string where)
    {
        switch (expected)
        {
            case JsonObject o:
                Assert.Equal(o.Select(p => p.Key), actual!.AsObject().Select(p => p.Key));
                foreach (var (key, value) in o) AssertStatsAgree(value, actual[key], $"{where}.{key}");
                break;
            case JsonArray a:
                Assert.Equal(a.Count, actual!.AsArray().Count);
                for (int i = 0; i < a.Count; i++) AssertStatsAgree(a[i], actual[i], $"{where}[{i}]");
                break;
            case JsonValue v when v.TryGetValue<double>(out double e):
                double got = actual!.GetValue<double>();
                Assert.True(Math.Abs(got - e) <= 1e-12 * Math.Abs(e), $"{where}: expected {e:R}, got {got:R}");
                break;
            default:
                Assert.Equal(expected?.ToJsonString(), actual?.ToJsonString());
                break;
        }
    }
}
