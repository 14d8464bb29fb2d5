using System.Globalization;
using Engine.Training.Evaluation;
using Engine.Training.Synthetic;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Engine.Pipeline.Recipes;

/// <summary>Reads <c>recipe.yml</c> (format in the README). Every problem is a <see cref="RecipeException"/> naming
/// the file, the key (dotted: <c>branches.coding.lr</c>) and what is wrong; unknown keys are errors, so a typo
/// never silently falls back to a default.</summary>
public static class RecipeReader
{
    private static readonly string[] TopKeys = ["name", "backbone", "seed", "domains", "sft", "branches", "merges", "controls", "eval"];

    /// <summary>Reads and validates the recipe at <paramref name="path"/>; relative paths in it resolve against its folder.</summary>
    /// <exception cref="RecipeException">The file cannot be read, is not valid YAML, or a key is unknown, missing or
    /// of the wrong type; the message names the file and the dotted key.</exception>
    public static Recipe Load(string path)

    {
        string full = Path.GetFullPath(path);
        string text;
        try
        {
            text = File.ReadAllText(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new RecipeException($"{path}: cannot read the recipe: {e.Message}", e);
        }
        return Parse(full, text);
    }

    /// <summary>Parses <paramref name="text"/> as the recipe at <paramref name="path"/> (relative paths resolve
    /// against its folder).</summary>
    public static Recipe Parse(string path, string text)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new RecipeException($"{path}: invalid YAML at line {e.Start.Line}: {e.Message}", e);
        }
        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new RecipeException($"{path}: a recipe is one YAML mapping (name, backbone, domains, sft, merges, ...)");
        var reader = new Reader(path);
        reader.CheckKeys(root, "", TopKeys);
        string folder = Path.GetDirectoryName(path)!;
        string Resolve(string p) => Path.GetFullPath(Path.Combine(folder, p));

        string name = reader.OptionalString(root, "name", "") is { Length: > 0 } n ? n : Path.GetFileNameWithoutExtension(path);
        var backbone = reader.Backbone(reader.RequiredString(root, "backbone", ""), Resolve);
        int seed = (int)reader.Integer(root, "seed", "", 42, int.MinValue, int.MaxValue);

        var domainsNode = reader.Map(root, "domains", "") ?? throw reader.Error("domains", "is required: the domains with their train and eval files");
        var domains = new List<RecipeDomain>();
        foreach (var (keyNode, value) in domainsNode.Children)
        {
            string domain = reader.Key(keyNode, "domains");
            string where = $"domains.{domain}";
            if (!IsName(domain)) throw reader.Error(where, "a domain name uses letters, digits, '_', '-' and '.' only");
            if (value is not YamlMappingNode entry) throw reader.Error(where, "must be a mapping { train: FILE, eval: FILE }");
            reader.CheckKeys(entry, where, ["train", "eval"]);
            domains.Add(new RecipeDomain(domain, Resolve(reader.RequiredString(entry, "train", where)), Resolve(reader.RequiredString(entry, "eval", where))));
        }
        if (domains.Count == 0) throw reader.Error("domains", "names no domain");
        var domainNames = domains.Select(d => d.Name).ToHashSet(StringComparer.Ordinal);

        var sft = reader.Settings(reader.Map(root, "sft", ""), "sft");
        var branches = new Dictionary<string, SftSettings>(StringComparer.Ordinal);
        if (reader.Map(root, "branches", "") is { } branchesNode)
        {
            foreach (var (keyNode, value) in branchesNode.Children)
            {
                string domain = reader.Key(keyNode, "branches");
                if (!domainNames.Contains(domain)) throw reader.Error($"branches.{domain}", $"is not a domain (domains: {string.Join(", ", domainNames)})");
                branches[domain] = reader.Settings(value as YamlMappingNode ?? throw reader.Error($"branches.{domain}", "must be a mapping of SFT settings"), $"branches.{domain}");
            }
        }

        var merges = new List<RecipeMerge>();
        if (reader.Get(root, "merges") is { } mergesNode)
        {
            if (mergesNode is not YamlSequenceNode list) throw reader.Error("merges", "must be a list");
            for (int i = 0; i < list.Children.Count; i++)
                merges.Add(reader.Merge(list.Children[i], $"merges[{i}]", domainNames, Resolve));
            var twice = merges.GroupBy(m => m.Name).FirstOrDefault(g => g.Count() > 1);
            if (twice != null) throw reader.Error("merges", $"the name '{twice.Key}' is used twice");
        }

        var controls = reader.Map(root, "controls", "");
        if (controls != null) reader.CheckKeys(controls, "controls", ["mixture", "average"]);
        bool mixture = controls != null && reader.Flag(controls, "mixture", "controls", false);
        bool average = controls != null && reader.Flag(controls, "average", "controls", false);
        if (merges.Any(m => m.Name is "mixture" or "average" or "base") || (mixture || average) && domainNames.Overlaps(["mixture", "average"]))
            throw reader.Error("merges", "the names base, mixture and average are taken by the backbone and the controls");

        var evalNode = reader.Map(root, "eval", "");
        if (evalNode != null) reader.CheckKeys(evalNode, "eval", ["metric", "max_new_tokens", "batch"]);
        string metricName = evalNode is null ? "exact_match" : reader.OptionalString(evalNode, "metric", "eval") ?? "exact_match";
        var metric = metricName switch
        {
            "exact_match" => EvalMetric.ExactMatch,
            "loss" => EvalMetric.Loss,
            _ => throw reader.Error("eval.metric", $"must be exact_match or loss, got '{metricName}'"),
        };
        var eval = new RecipeEval(metric,
            evalNode is null ? 64 : (int)reader.Integer(evalNode, "max_new_tokens", "eval", 64, 1, 1 << 20),
            evalNode is null ? 8 : (int)reader.Integer(evalNode, "batch", "eval", 8, 1, 1 << 16));

        var recipe = new Recipe(path, name, backbone, seed, domains, sft, branches, merges, mixture, average, eval);
        // Settings are checked whole, as each branch will use them, so a bad value fails now and not hours in.
        foreach (var d in domains)
        {
            string where = branches.ContainsKey(d.Name) ? $"branches.{d.Name}" : "sft";
            try
            {
                recipe.BranchSettings(d.Name).ToOptions(seed);
            }
            catch (ArgumentException e)
            {
                throw reader.Error(where, e.Message);
            }
        }
        return recipe;
    }

    private static bool IsName(string name) => name.Length > 0 && name.All(c => char.IsLetterOrDigit(c) || c is '_' or '-' or '.');

    /// <summary>Reads values with errors that name the recipe file and the dotted key.</summary>
    private sealed class Reader(string path)
    {
        public RecipeException Error(string key, string problem) => new($"{path}: {key}: {problem}");

        private static string Join(string parent, string key) => parent.Length == 0 ? key : $"{parent}.{key}";

        public string Key(YamlNode node, string parent) =>
            node is YamlScalarNode { Value: { Length: > 0 } k } ? k : throw Error(parent, $"a key at line {node.Start.Line} is not a plain name");

        public void CheckKeys(YamlMappingNode map, string parent, IReadOnlyCollection<string> known)
        {
            foreach (var keyNode in map.Children.Keys)
            {
                string key = Key(keyNode, parent);
                if (!known.Contains(key)) throw Error(Join(parent, key), $"unknown key (line {keyNode.Start.Line}; known here: {string.Join(", ", known)})");
            }
        }

        public YamlNode? Get(YamlMappingNode map, string key) =>
            map.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is not YamlScalarNode { Value: null or "" or "~" or "null" } ? value : null;

        public YamlMappingNode? Map(YamlMappingNode map, string key, string parent) => Get(map, key) switch
        {
            null => null,
            YamlMappingNode m => m,
            _ => throw Error(Join(parent, key), "must be a mapping"),
        };

        public string? OptionalString(YamlMappingNode map, string key, string parent) => Get(map, key) switch
        {
            null => null,
            YamlScalarNode s => s.Value,
            _ => throw Error(Join(parent, key), "must be a single value"),
        };

        public string RequiredString(YamlMappingNode map, string key, string parent) =>
            OptionalString(map, key, parent) is { Length: > 0 } s ? s : throw Error(Join(parent, key), "is required");

        public long Integer(YamlMappingNode map, string key, string parent, long fallback, long min, long max)
        {
            if (OptionalString(map, key, parent) is not { } text) return fallback;
            if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) || v < min || v > max)
                throw Error(Join(parent, key), $"'{text}' is not an integer in [{min}, {max}]");
            return v;
        }

        public double Number(YamlMappingNode map, string key, string parent, double fallback)
        {
            if (OptionalString(map, key, parent) is not { } text) return fallback;
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
                throw Error(Join(parent, key), $"'{text}' is not a finite number");
            return v;
        }

        public bool Flag(YamlMappingNode map, string key, string parent, bool fallback) => OptionalString(map, key, parent) switch
        {
            null => fallback,
            "true" or "True" or "yes" => true,
            "false" or "False" or "no" => false,
            var other => throw Error(Join(parent, key), $"'{other}' is not true or false"),
        };

        /// <summary><c>embedded</c>, <c>embedded:SIZE</c>, or a model directory (resolved against the recipe's folder;
        /// write <c>./embedded</c> for a directory of that name).</summary>
        public RecipeBackbone Backbone(string value, Func<string, string> resolve)
        {
            const string word = EmbeddedBackbone.Word;
            if (value == word) return new EmbeddedBackbone(ExperimentSize.Default);
            if (!value.StartsWith(word + ":", StringComparison.Ordinal)) return new DirectoryBackbone(resolve(value));
            try
            {
                return new EmbeddedBackbone(ExperimentSize.Parse(value[(word.Length + 1)..]));
            }
            catch (ArgumentException e)
            {
                throw Error("backbone", $"'{value}': the embedded {e.Message}");
            }
        }

        public SftSettings Settings(YamlMappingNode? map, string where)
        {
            var settings = SftSettings.Empty;
            if (map == null) return settings;
            foreach (var (keyNode, value) in map.Children)
            {
                string key = Key(keyNode, where);
                if (value is not YamlScalarNode { Value: { } text }) throw Error($"{where}.{key}", "must be a single value");
                try
                {
                    settings = settings.Set(key, text);
                }
                catch (ArgumentException e)
                {
                    throw Error($"{where}.{key}", e.Message);
                }
            }
            return settings;
        }

        public RecipeMerge Merge(YamlNode node, string where, IReadOnlySet<string> domains, Func<string, string> resolve)
        {
            if (node is not YamlMappingNode map) throw Error(where, "must be a mapping with name and order (or config)");
            CheckKeys(map, where, ["name", "order", "method", "lambda", "config"]);
            string name = RequiredString(map, "name", where);
            if (!IsName(name)) throw Error($"{where}.name", $"'{name}' may use letters, digits, '_', '-' and '.' only");
            string? order = OptionalString(map, "order", where);
            string? config = OptionalString(map, "config", where);
            if ((order == null) == (config == null)) throw Error(where, "give exactly one of 'order' (the short form) and 'config' (a mergekit YAML file)");
            if (config != null)
            {
                if (Get(map, "method") != null || Get(map, "lambda") != null) throw Error(where, "'method' and 'lambda' belong in the config file when 'config' is given");
                return new FileMerge(name, resolve(config));
            }
            MergeOrder parsed;
            try
            {
                parsed = MergeOrder.Parse(order!);
            }
            catch (ArgumentException e)
            {
                throw Error($"{where}.order", $"'{order}': {e.Message}");
            }
            foreach (var d in parsed.Domains)
                if (!domains.Contains(d)) throw Error($"{where}.order", $"'{d}' is not a domain (domains: {string.Join(", ", domains)})");
            var twice = parsed.Domains.GroupBy(d => d).FirstOrDefault(g => g.Count() > 1);
            if (twice != null) throw Error($"{where}.order", $"'{twice.Key}' appears twice");
            string method = OptionalString(map, "method", where) ?? "arcee_fusion";
            if (method is not ("arcee_fusion" or "linear"))
                throw Error($"{where}.method", $"the short form supports arcee_fusion and linear, got '{method}' (use 'config' for other methods)");
            return new OrderedMerge(name, parsed, method, Number(map, "lambda", where, 1.5));
        }
    }
}
