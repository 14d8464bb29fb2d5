using System.Collections.Immutable;
using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Engine.Merge.Config;

/// <summary>Reads mergekit's <c>slices:</c>: a list of output slices, each with <c>sources</c> (a <c>model</c>
/// and a half-open <c>layer_range: [start, end]</c>, optional <c>parameters</c>), an optional <c>base_model</c>
/// and <c>parameters</c>. Checks what mergekit checks (every source of a slice spans the same number of layers)
/// and what it leaves to a crash later (ranges that are empty, reversed or negative).</summary>
internal static class SliceReader
{
    public delegate ParameterSet ParametersReader(string where, YamlNode node, string what);
    public delegate string? StringGetter(string where, YamlMappingNode map, string key);
    public delegate YamlNode? NodeGetter(YamlMappingNode map, string key);

    public static ImmutableArray<SliceDefinition> Read(string where, YamlNode node, ParametersReader readParameters, StringGetter getString, NodeGetter get)
    {
        if (node is not YamlSequenceNode list || list.Children.Count == 0) throw new MergeConfigException($"{where}: 'slices' must be a non-empty list");
        var slices = ImmutableArray.CreateBuilder<SliceDefinition>();
        foreach (var item in list)
        {
            string what = $"slice {slices.Count + 1}";
            if (item is not YamlMappingNode map) throw new MergeConfigException($"{where}: {what} must be a mapping with 'sources'");
            foreach (var key in map.Children.Keys)
            {
                if (key is YamlScalarNode { Value: var k } && k is not ("sources" or "base_model" or "parameters" or "residual_weight"))
                    throw new MergeConfigException($"{where}: {what} has unknown key '{k}' (a slice takes sources, base_model, parameters)");
            }
            if (get(map, "sources") is not YamlSequenceNode sourceList || sourceList.Children.Count == 0)
                throw new MergeConfigException($"{where}: {what} needs a non-empty 'sources' list");
            var sources = sourceList.Select((s, i) => ReadSource(where, $"{what}, source {i + 1}", s, readParameters, getString, get)).ToImmutableArray();
            var mismatch = sources.FirstOrDefault(s => s.Length != sources[0].Length);
            if (mismatch is not null)
                throw new MergeConfigException($"{where}: {what}: every source must span the same number of layers, but '{sources[0].Model}' has {sources[0].Length} ({Range(sources[0])}) and '{mismatch.Model}' has {mismatch.Length} ({Range(mismatch)})");
            var parameters = get(map, "parameters") is { } p ? readParameters(where, p, $"parameters of {what}") : ParameterSet.Empty;
            slices.Add(new SliceDefinition(sources, getString(where, map, "base_model"), parameters));
        }
        return slices.ToImmutable();
    }

    private static SliceSource ReadSource(string where, string what, YamlNode node, ParametersReader readParameters, StringGetter getString, NodeGetter get)
    {
        if (node is not YamlMappingNode map) throw new MergeConfigException($"{where}: {what} must be a mapping with 'model' and 'layer_range'");
        string model = getString(where, map, "model") ?? throw new MergeConfigException($"{where}: {what} has no 'model'");
        if (get(map, "layer_range") is not YamlSequenceNode { Children.Count: 2 } range)
            throw new MergeConfigException($"{where}: {what} ('{model}') needs 'layer_range: [start, end]'");
        int start = LayerNumber(where, what, model, range.Children[0]);
        int end = LayerNumber(where, what, model, range.Children[1]);
        if (end <= start) throw new MergeConfigException($"{where}: {what} ('{model}'): layer_range [{start}, {end}] is empty (it is half-open: [start, end) with end > start)");
        var parameters = get(map, "parameters") is { } p ? readParameters(where, p, $"parameters of '{model}' in {what}") : ParameterSet.Empty;
        return new SliceSource(model, start, end, parameters);
    }

    private static int LayerNumber(string where, string what, string model, YamlNode node) =>
        node is YamlScalarNode { Value: { } v } && int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            ? n
            : throw new MergeConfigException($"{where}: {what} ('{model}'): layer_range entries must be non-negative integers, found '{(node as YamlScalarNode)?.Value ?? node.ToString()}'");

    private static string Range(SliceSource s) => $"[{s.Start}, {s.End})";
}
