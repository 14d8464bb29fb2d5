using System.Globalization;
using System.Text;
using Engine.Core;
using Engine.Merge.Methods;

namespace Engine.Merge.Benchmarks;

/// <summary>The merge config <c>engine bench merge --method NAME</c> times: the base and as many generated
/// experts as the method takes (one for arcee_fusion, slerp and nearswap, two otherwise; methods that need no
/// base merge the two experts alone, passthrough copies one), with 0.5 for every weight, density and t the
/// method takes and defaults for the rest.</summary>
public static class BenchMergeConfig
{
    private static readonly string[] SetParameters = ["weight", "density", "t"];

    /// <summary>How many experts besides the base the method is benchmarked with.</summary>
    public static int ExpertCount(string method) => method switch
    {
        "arcee_fusion" or "slerp" or "nearswap" or "passthrough" => 1,
        _ => 2,
    };

    /// <exception cref="EngineException">an unknown method name.</exception>
    public static string Yaml(string method, string baseModel, IReadOnlyList<string> experts)
    {
        if (!MergeMethodRegistry.TryGet(method, out var m))
            throw new EngineException($"--method '{method}' is not a merge method; choose one of: {string.Join(", ", MergeMethodRegistry.Names)}");
        var perModel = m.Parameters.Where(p => p.PerModel && SetParameters.Contains(p.Name)).Select(p => $"{p.Name}: 0.5").ToList();
        var global = m.Parameters.Where(p => !p.PerModel && SetParameters.Contains(p.Name)).Select(p => $"{p.Name}: 0.5").ToList();
        var yaml = new StringBuilder($"merge_method: {method}\n");
        yaml.Append(m.RequiresBase ? $"base_model: {baseModel}\nmodels:\n" : "models:\n");
        foreach (var expert in experts.Take(ExpertCount(method)))
        {
            yaml.Append(CultureInfo.InvariantCulture, $"  - model: {expert}\n");
            if (perModel.Count > 0) yaml.Append(CultureInfo.InvariantCulture, $"    parameters: {{{string.Join(", ", perModel)}}}\n");
        }
        if (global.Count > 0) yaml.Append(CultureInfo.InvariantCulture, $"parameters: {{{string.Join(", ", global)}}}\n");
        yaml.Append("dtype: bfloat16\n");
        return yaml.ToString();
    }
}
