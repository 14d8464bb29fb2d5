using System.Collections.Immutable;
using System.Globalization;
using Engine.Merge.Config;
using Engine.Merge.Methods;
using YamlDotNet.RepresentationModel;

namespace Engine.Merge.Batch;

/// <summary>One <c>--sweep NAME=V1,V2,...</c>: a merge parameter and the values a config is merged with, one job each.</summary>
public sealed record ParameterSweep(string Name, ImmutableArray<string> Values)
{
    /// <summary>Parses <c>NAME=V1,V2,...</c>; every value must be a finite number, and none given twice.</summary>
    public static ParameterSweep Parse(string text)
    {
        int eq = text.IndexOf('=');
        string name = eq > 0 ? text[..eq].Trim() : "";
        if (name.Length == 0 || eq == text.Length - 1)
            throw new MergeConfigException($"--sweep '{text}' must be NAME=V1,V2,... (for example lambda=1.0,1.5,2.0)");
        var values = text[(eq + 1)..].Split(',').Select(v => v.Trim()).ToImmutableArray();
        foreach (var v in values)
        {
            if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || !double.IsFinite(d) || Math.Abs(d) > float.MaxValue)
                throw new MergeConfigException($"--sweep {name}: '{v}' is not a finite number");
        }
        if (values.Select(v => double.Parse(v, CultureInfo.InvariantCulture)).Distinct().Count() != values.Length)
            throw new MergeConfigException($"--sweep {name}: a value is given twice");
        return new ParameterSweep(name, values);
    }

    /// <summary>One job per combination of the sweeps' values (the first sweep varying slowest), each named
    /// <c>NAME-PARAM-VALUE...</c> after <paramref name="job"/>, into a sibling of its output of that name.</summary>
    public static IReadOnlyList<BatchJob> Expand(BatchJob job, IReadOnlyList<ParameterSweep> sweeps)
    {
        IReadOnlyList<BatchJob> jobs = [job];
        foreach (var sweep in sweeps)
        {
            jobs = jobs.SelectMany(j => sweep.Values.Select(v =>
            {
                string name = $"{j.Name}-{sweep.Name}-{v}";
                string output = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(j.OutputPath))!, name);
                return j with { Name = name, Config = sweep.Apply(j.Config, v), OutputPath = output };
            })).ToList();
        }
        return jobs;
    }

    /// <summary>The config with <see cref="Name"/> set to <paramref name="value"/> in the merge-level <c>parameters</c>
    /// of every document whose method takes it; its text (written beside the output as <c>mergekit_config.yml</c>)
    /// says so, so the output records the config that made it. A model or slice that sets the parameter itself
    /// would override the sweep (mergekit's lookup order): that is an error, not a silent no-op.</summary>
    public MergeConfig Apply(MergeConfig config, string value)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(config.Text));
        var roots = stream.Documents.Where(d => d.RootNode is YamlMappingNode).ToList();
        int set = 0;
        for (int i = 0; i < config.Documents.Length; i++)
        {
            var doc = config.Documents[i];
            if (!MergeMethodRegistry.Get(doc.Method).Parameters.Any(p => p.Name == Name)) continue;
            string where = config.Documents.Length == 1 ? config.Path : $"{config.Path} (document {i + 1})";
            foreach (var m in doc.Models.Where(m => m.Parameters.Values.ContainsKey(Name)))
                throw new MergeConfigException($"{where}: --sweep {Name}: model '{m.Model}' sets '{Name}' itself, which would override the sweep; remove it there");
            if (doc.Slices.Any(s => s.Parameters.Values.ContainsKey(Name) || s.Sources.Any(src => src.Parameters.Values.ContainsKey(Name))))
                throw new MergeConfigException($"{where}: --sweep {Name}: a slice sets '{Name}' itself, which would override the sweep; remove it there");
            var map = (YamlMappingNode)roots[i].RootNode;
            if (MergeConfigReader.Get(map, "parameters") is not YamlMappingNode parameters)
            {
                parameters = new YamlMappingNode();
                map.Children[new YamlScalarNode("parameters")] = parameters;
            }
            parameters.Children[new YamlScalarNode(Name)] = new YamlScalarNode(value);
            set++;
        }
        if (set == 0)
        {
            var methods = string.Join(", ", config.Documents.Select(d => d.Method).Distinct());
            throw new MergeConfigException($"{config.Path}: --sweep {Name}: no stage's method ({methods}) takes '{Name}'");
        }
        var text = new StringWriter();
        text.WriteLine($"# {Path.GetFileName(config.Path)} with {Name} = {value} (engine merge --sweep)");
        stream.Save(text, assignAnchors: false);
        return MergeConfigReader.Parse(config.Path, text.ToString());
    }
}
