using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Engine.Core.Model;
using Engine.Merge.Config;

namespace Engine.Merge.Execution;

/// <summary>What <c>engine merge --dry-run</c> shows: for every output layer of the last stage, the source model
/// and layer of each input (the base marked), the method and the parameters as each tensor of the layer gets
/// them; then where the tensors outside the layers come from. Built from the plan alone, so it reads no weights,
/// and checks every tensor's presence and shape as a real run would before writing anything.</summary>
public static class LayerMap
{
    /// <summary>The map as JSON: <c>{stage, method, layers: [{layer, sources: [{model, layer, base}], parameters:
    /// {name: [{value, tensors}]}}], other_tensors: [{tensor, sources}]}</c>.</summary>
    public static JsonObject Build(MergePlan plan)
    {
        var stage = plan.Output;
        var tensors = plan.PlanTensors(stage);
        var recipes = tensors.Select(t => stage.Recipe(t.Name)).ToList();
        var layers = new JsonArray();
        foreach (var layer in recipes.Where(r => r.OutputLayer >= 0).GroupBy(r => r.OutputLayer).OrderBy(g => g.Key))
        {
            var first = layer.First();
            layers.Add(new JsonObject
            {
                ["layer"] = layer.Key,
                ["slice"] = first.Slice >= 0 ? first.Slice + 1 : null,
                ["t"] = first.LayerPosition,
                ["sources"] = new JsonArray(first.Inputs.Select(i => (JsonNode)new JsonObject
                {
                    ["model"] = i.Input.Label,
                    ["layer"] = ModelLayout.Parse(i.Tensor)?.Index,
                    ["base"] = ReferenceEquals(i, first.Base),
                }).ToArray()),
                ["parameters"] = Parameters(stage, layer.ToList()),
            });
        }
        var others = new JsonArray(recipes.Where(r => r.OutputLayer < 0).Select(r => (JsonNode)new JsonObject
        {
            ["tensor"] = r.Name,
            ["sources"] = new JsonArray(r.Inputs.Select(i => (JsonNode)(i.Input.Label + (ReferenceEquals(i, r.Base) ? " (base)" : ""))).ToArray()),
        }).ToArray());
        return new JsonObject
        {
            ["config"] = plan.Config.Path,
            ["stage"] = stage.Label,
            ["method"] = stage.Method.Name,
            ["sliced"] = stage.Slices is not null,
            ["output_layers"] = stage.OutputLayers ?? stage.Layout.Decoder?.Count,
            ["layers"] = layers,
            ["other_tensors"] = others,
        };
    }

    /// <summary>Each parameter the method takes, evaluated for every tensor of the layer: the distinct values,
    /// each with the tensors (suffixes after the layer number) that get it. Per-model parameters are listed per
    /// input as <c>name[model]</c>.</summary>
    private static JsonObject Parameters(MergeStage stage, List<TensorRecipe> layer)
    {
        var result = new JsonObject();
        foreach (var p in stage.Method.Parameters)
        {
            if (p.PerModel)
            {
                for (int i = 0; i < layer[0].Others.Length; i++)
                {
                    int at = i;
                    AddValues(result, $"{p.Name}[{layer[0].Others[at].Input.Label}]", layer, r =>
                        r.Others[at].Parameters.Evaluate(p.Name, r.Name, r.LayerPosition) ?? r.Document.Parameters.Evaluate(p.Name, r.Name, r.LayerPosition), p.Default);
                }
            }
            else
            {
                AddValues(result, p.Name, layer, r => r.Document.Parameters.Evaluate(p.Name, r.Name, r.LayerPosition), p.Default);
            }
        }
        return result;
    }

    private static void AddValues(JsonObject result, string key, List<TensorRecipe> layer, Func<TensorRecipe, object?> evaluate, object? fallback)
    {
        var groups = layer.GroupBy(r => Format(evaluate(r) ?? fallback)).ToList();
        if (groups.Count == 1 && groups[0].Key == "-") return;
        result[key] = new JsonArray(groups.Select(g => (JsonNode)new JsonObject
        {
            ["value"] = g.Key,
            ["tensors"] = new JsonArray(g.Select(r => (JsonNode)(ModelLayout.Parse(r.Name)?.Suffix ?? r.Name)).ToArray()),
        }).ToArray());
    }

    private static string Format(object? value) => value switch
    {
        null => "-",
        double d => Math.Round(d, 6).ToString("G6", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "-",
    };

    /// <summary>The map as text, one line per output layer, for a terminal.</summary>
    public static string Render(JsonObject map)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"stage '{map["stage"]}': {map["method"]}, {map["output_layers"]} output layers");
        sb.AppendLine(map["sliced"]!.GetValue<bool>() ? " (sliced)" : "");
        foreach (var layer in map["layers"]!.AsArray())
        {
            var sources = string.Join(", ", layer!["sources"]!.AsArray().Select(s =>
                $"{s!["model"]}:{s["layer"]}{(s["base"]!.GetValue<bool>() ? " (base)" : "")}"));
            var slice = layer["slice"] is { } sl ? $" slice {sl}," : "";
            sb.Append(CultureInfo.InvariantCulture, $"  layer {layer["layer"],3} <-{slice} {sources}; position {layer["t"]!.GetValue<double>():0.###}");
            foreach (var (name, values) in layer["parameters"]!.AsObject())
            {
                var groups = values!.AsArray();
                var all = groups.SelectMany(g => g!["tensors"]!.AsArray().Select(t => t!.GetValue<string>())).ToList();
                sb.Append($"; {name}=");
                sb.Append(groups.Count == 1
                    ? groups[0]!["value"]!.GetValue<string>()
                    : string.Join(", ", groups.Select(g => $"{g!["value"]} ({Tensors(g["tensors"]!.AsArray(), all)})")));
            }
            sb.AppendLine();
        }
        foreach (var other in map["other_tensors"]!.AsArray())
            sb.AppendLine($"  {other!["tensor"]} <- {string.Join(", ", other["sources"]!.AsArray().Select(s => s!.GetValue<string>()))}");
        return sb.ToString();
    }

    /// <summary>Tensor suffixes, shortened to <c>group.*</c> where every tensor of the layer in that group (the
    /// first name part, such as <c>self_attn</c>) is among them.</summary>
    private static string Tensors(JsonArray tensors, List<string> all)
    {
        var names = tensors.Select(t => t!.GetValue<string>()).ToList();
        var parts = names.GroupBy(Group).SelectMany(g =>
            g.Count() > 1 && g.Count() == all.Count(n => Group(n) == g.Key) ? [$"{g.Key}.*"] : g.AsEnumerable());
        return string.Join(" ", parts);
    }

    private static string Group(string suffix) => suffix.Split('.')[0];
}
