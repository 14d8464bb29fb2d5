using System.Collections.Immutable;
using Engine.Merge.Config;

namespace Engine.Merge.Methods;

/// <summary>The document-level checks the merge methods share, with messages naming the config.</summary>
internal static class MethodRules
{
    /// <summary>The models merged besides the base, as the plan resolves them.</summary>
    public static int OthersCount(MergeDocument document) => document.Models.Count(m => m.Model != document.BaseModel);

    public static void RequireBase(IMergeMethod method, MergeDocument document, string where)
    {
        if (document.BaseModel == null) throw new MergeConfigException($"{where}: {method.Name} needs 'base_model'");
    }

    /// <summary>A global parameter mergekit requires (for example slerp's <c>t</c>).</summary>
    public static void RequireGlobal(IMergeMethod method, MergeDocument document, string where, string name)
    {
        if (!document.Parameters.Contains(name)) throw new MergeConfigException($"{where}: {method.Name} needs parameter '{name}'");
    }

    /// <summary>A per-model parameter mergekit requires (for example <c>weight</c>): every listed model other
    /// than the base must give it, or the merge's <c>parameters</c> must.</summary>
    public static void RequirePerModel(IMergeMethod method, MergeDocument document, string where, string name, bool includeBase = false)
    {
        if (document.Parameters.Contains(name)) return;
        foreach (var m in document.Models.Where(m => includeBase || m.Model != document.BaseModel))
        {
            if (!m.Parameters.Contains(name))
                throw new MergeConfigException($"{where}: {method.Name} needs parameter '{name}' for model '{m.Model}' (under its parameters or the merge's)");
        }
        if (includeBase && document.BaseModel != null && document.Models.All(m => m.Model != document.BaseModel))
            throw new MergeConfigException($"{where}: {method.Name} merges the base too and needs its '{name}': list base model '{document.BaseModel}' under 'models' with parameters, or set '{name}' under the merge's parameters");
    }

    /// <summary>Refuses values outside a parameter's range (<see cref="MethodParameter.Min"/>, <see cref="MethodParameter.Max"/>,
    /// inclusive; every point of a gradient and every filtered value is checked), then warns as <see cref="WarnIgnored"/>.</summary>
    public static void CheckParameters(IMergeMethod method, MergeDocument document, string where, ImmutableArray<string>.Builder warnings)
    {
        foreach (var p in method.Parameters.Where(p => p.Min != null || p.Max != null))
        {
            CheckRange(p, document.Parameters, where, "");
            foreach (var m in document.Models) CheckRange(p, m.Parameters, where, $" of model '{m.Model}'");
        }
        WarnIgnored(method, document, where, warnings);
    }

    private static void CheckRange(MethodParameter p, ParameterSet parameters, string where, string whose)
    {
        if (!parameters.Values.TryGetValue(p.Name, out var setting)) return;
        foreach (double v in Numbers(setting))
        {
            if ((p.Min is { } min && v < min) || (p.Max is { } max && v > max))
                throw new MergeConfigException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"{where}: parameter '{p.Name}'{whose} is {v}; it must be {(p.Max == null ? $">= {p.Min}" : p.Min == null ? $"<= {p.Max}" : $"in [{p.Min}, {p.Max}]")} ({p.Description})"));
        }
    }

    private static IEnumerable<double> Numbers(ParameterSetting setting) => setting switch
    {
        ParameterSetting.Scalar { Value: double d } => [d],
        ParameterSetting.Gradient g => g.Points,
        ParameterSetting.Conditional c => c.Conditions.SelectMany(x => Numbers(x.Value)),
        _ => [],
    };

    /// <summary>Warns about parameters the method does not take (mergekit ignores them silently) and about
    /// <c>int8_mask</c>, which only changes mergekit's mask storage.</summary>
    public static void WarnIgnored(IMergeMethod method, MergeDocument document, string where, ImmutableArray<string>.Builder warnings)
    {
        if (document.ComputePrecision != Kernels.ComputePrecision.Float32)
            warnings.Add($"{where}: compute_dtype only applies to arcee_fusion; {method.Name} computes in float32 with float64 sums");
        if (document.Quantiles != QuantileMode.Exact)
            warnings.Add($"{where}: quantiles only applies to arcee_fusion; {method.Name} ignores it");
        var known = method.Parameters.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        var perModel = method.Parameters.Where(p => p.PerModel).Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var key in document.Parameters.Values.Keys.Order(StringComparer.Ordinal))
        {
            if (key == "int8_mask") warnings.Add($"{where}: int8_mask ignored: {method.Name} never materialises its masks as tensors");
            else if (!known.Contains(key)) warnings.Add($"{where}: {method.Name} ignores parameter '{key}'");
        }
        foreach (var m in document.Models)
        {
            foreach (var key in m.Parameters.Values.Keys.Order(StringComparer.Ordinal))
            {
                if (!perModel.Contains(key)) warnings.Add($"{where}: {method.Name} ignores parameter '{key}' of model '{m.Model}'");
            }
        }
    }
}
