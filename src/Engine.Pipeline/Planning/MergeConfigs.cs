using System.Globalization;
using System.Text;
using Engine.Core.Text;
using Engine.Pipeline.Recipes;
using YamlDotNet.RepresentationModel;

namespace Engine.Pipeline.Planning;

/// <summary>Writes the mergekit YAML of a recipe's merges. Models are written through <c>refer</c>: the plan
/// hashes the text with each model's key in place of its path (so a step's key does not depend on where the
/// output folder is), and the runner writes it with the model directories' paths.</summary>
public static class MergeConfigs
{
    /// <summary>The short form as a multi-stage config: each <c>&amp;</c> is a stage (named <c>NAME-stageK</c>, the
    /// last one unnamed), the base on the right.</summary>
    public static string Ordered(OrderedMerge merge, Func<string, string> refer)
    {
        var docs = new List<string>();
        string Emit(MergeOrder order)
        {
            if (order is MergeOrder.Leaf leaf) return Quote(refer(leaf.Domain));
            var fuse = (MergeOrder.Fuse)order;
            string other = Emit(fuse.Other), baseModel = Emit(fuse.Base);
            var doc = new StringBuilder();
            string stageName = $"{merge.Name}-stage{docs.Count + 1}";
            doc.Append(CultureInfo.InvariantCulture, $"name: {stageName}\nmerge_method: {merge.Method}\n");
            if (merge.Method == "arcee_fusion")
                doc.Append(CultureInfo.InvariantCulture, $"base_model: {baseModel}\nmodels:\n  - model: {other}\nparameters:\n  lambda: {merge.Lambda.ToString("R", CultureInfo.InvariantCulture)}\n");
            else
                doc.Append(CultureInfo.InvariantCulture, $"models:\n  - model: {other}\n    parameters: {{weight: 1.0}}\n  - model: {baseModel}\n    parameters: {{weight: 1.0}}\nparameters:\n  normalize: true\n");
            docs.Add(doc.ToString());
            return stageName;
        }
        Emit(merge.Order);
        // The last stage is the output: mergekit-multi leaves it unnamed.
        docs[^1] = docs[^1][(docs[^1].IndexOf('\n') + 1)..];
        return string.Join("---\n", docs);
    }

    /// <summary>The average control: a linear merge with weight 1 for every expert, normalised (the plain mean).</summary>
    public static string Average(IEnumerable<string> domains, Func<string, string> refer)
    {
        var text = new StringBuilder("merge_method: linear\nmodels:\n");
        foreach (var d in domains) text.Append(CultureInfo.InvariantCulture, $"  - model: {Quote(refer(d))}\n    parameters: {{weight: 1.0}}\n");
        text.Append("parameters:\n  normalize: true\n");
        return text.ToString();
    }

    /// <summary>A mergekit file whose <c>model</c>, <c>base_model</c> and <c>tokenizer_source</c> values name
    /// domains (or <c>base</c>, the backbone): those values are replaced through <paramref name="refer"/>. Every other
    /// <c>model</c> or <c>base_model</c> must be an earlier stage's <c>name:</c> (it stays) or an existing directory
    /// (a relative one, relative to the merge file, is written as its full path, or through
    /// <paramref name="referDirectory"/> when given); anything else is a <see cref="RecipeException"/> naming the merge
    /// file, so a typo fails when the plan is made, not after the SFTs. Returns the text and the models it uses.</summary>
    public static (string Text, IReadOnlyList<string> Models) FromFile(FileMerge merge, IReadOnlySet<string> models, Func<string, string> refer,
        Func<string, string>? referDirectory = null)
    {
        string text;
        var stream = new YamlStream();
        try
        {
            text = StrictUtf8.ReadFile(merge.ConfigPath);
            stream.Load(new StringReader(text));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or YamlDotNet.Core.YamlException or Core.EngineException)
        {
            throw new RecipeException($"{merge.ConfigPath}: cannot read merge '{merge.Name}': {e.Message}", e);
        }
        var used = new List<string>();
        var stages = new HashSet<string>(StringComparer.Ordinal);
        string folder = Path.GetDirectoryName(merge.ConfigPath)!;
        void Visit(YamlNode node)
        {
            switch (node)
            {
                case YamlMappingNode map:
                    foreach (var (key, value) in map.Children.ToList())
                    {
                        if (key is YamlScalarNode { Value: "model" or "base_model" or "tokenizer_source" } && value is YamlScalarNode { Value: { } name } scalar
                            && models.Contains(name))
                        {
                            if (!used.Contains(name)) used.Add(name);
                            map.Children[key] = new YamlScalarNode(refer(name)) { Style = YamlDotNet.Core.ScalarStyle.SingleQuoted };
                        }
                        else if (key is YamlScalarNode { Value: "model" or "base_model" } modelKey && value is YamlScalarNode { Value: { } other })
                        {
                            if (stages.Contains(other)) continue;
                            string directory = Path.GetFullPath(Path.Combine(folder, other));
                            if (!Directory.Exists(directory))
                            {
                                throw new RecipeException($"{merge.ConfigPath}:{modelKey.Start.Line}: merge '{merge.Name}': {modelKey.Value} '{other}' is not a model of the recipe " +
                                    $"({string.Join(", ", models)}), an earlier stage's name{(stages.Count > 0 ? $" ({string.Join(", ", stages)})" : "")} or a directory");
                            }
                            map.Children[key] = new YamlScalarNode(referDirectory?.Invoke(directory) ?? directory) { Style = YamlDotNet.Core.ScalarStyle.SingleQuoted };
                        }
                        else
                        {
                            Visit(value);
                        }
                    }
                    break;
                case YamlSequenceNode list:
                    foreach (var item in list.Children) Visit(item);
                    break;
            }
        }
        var parts = new List<string>();
        foreach (var doc in stream.Documents)
        {
            Visit(doc.RootNode);
            // A stage's name is a model of the stages after it (mergekit-multi), not of its own.
            if (doc.RootNode is YamlMappingNode root && root.Children.TryGetValue(new YamlScalarNode("name"), out var stage) && stage is YamlScalarNode { Value: { Length: > 0 } n })
                stages.Add(n);
            var writer = new StringWriter();
            new YamlStream(new YamlDocument(doc.RootNode)).Save(writer, assignAnchors: false);
            parts.Add(writer.ToString().Replace("\n...\n", "\n").TrimEnd('.', '\n', '\r') + "\n");
        }
        if (used.Count == 0) throw new RecipeException($"{merge.ConfigPath}: merge '{merge.Name}' names no domain as a model (domains: {string.Join(", ", models)})");
        return (string.Join("---\n", parts), used);
    }

    private static string Quote(string value) => "'" + value.Replace("'", "''") + "'";
}
