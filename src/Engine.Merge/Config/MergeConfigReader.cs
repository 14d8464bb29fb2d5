using System.Collections.Immutable;
using System.Globalization;
using Engine.Core;
using Engine.Core.Text;
using Engine.Kernels;
using Engine.Merge.Methods;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Engine.Merge.Config;

/// <summary>Reads mergekit YAML: a single merge, or mergekit-multi's multi-document form where each
/// document has a <c>name</c> and later documents use earlier names as models. Unknown keys become
/// warnings; malformed values and unknown methods are <see cref="MergeConfigException"/>s naming the file.</summary>
public static class MergeConfigReader
{
    private static readonly HashSet<string> KnownKeys = new(StringComparer.Ordinal)
    {
        "name", "models", "base_model", "merge_method", "parameters", "dtype", "out_dtype", "tokenizer_source",
        "tokenizer", "compute_dtype", "quantiles", "seed", "random_seed", "chat_template", "slices",
    };

    /// <summary>Reads and validates the config file at <paramref name="path"/> (size-limited YAML).</summary>
    /// <exception cref="MergeConfigException">The file cannot be read, is not valid YAML, names an unknown method or has a
    /// malformed value; the message names the file and the key.</exception>
    public static MergeConfig Load(string path) => Parse(path, YamlLimits.ReadFile(path, "config"));

    /// <summary>Parses <paramref name="text"/> as the config at <paramref name="path"/> (relative model paths resolve against
    /// its folder; <paramref name="path"/> also names the file in errors).</summary>
    /// <exception cref="MergeConfigException">The text is not a valid config; the message names the file and the key.</exception>
    public static MergeConfig Parse(string path, string text) => Parse(path, text, YamlLimits.Load(path, text));

    /// <summary>Reads the config from <paramref name="stream"/>, the already parsed (and <see cref="YamlLimits">checked</see>)
    /// <paramref name="text"/>, so that a file read once to tell a job file from a config is not parsed again.</summary>
    internal static MergeConfig Parse(string path, string text, YamlStream stream)
    {
        var roots = stream.Documents.Select(d => d.RootNode).Where(n => n is not YamlScalarNode { Value: null or "" }).ToList();
        if (roots.Count == 0) throw new MergeConfigException($"{path}: config is empty");
        var warnings = ImmutableArray.CreateBuilder<string>();
        var docs = ImmutableArray.CreateBuilder<MergeDocument>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < roots.Count; i++)
        {
            string where = roots.Count == 1 ? path : $"{path} (document {i + 1})";
            if (roots[i] is not YamlMappingNode map) throw new MergeConfigException($"{where}: a merge document must be a mapping");
            var doc = ReadDocument(where, map, warnings);
            if (doc.Name != null && !names.Add(doc.Name)) throw new MergeConfigException($"{where}: stage name '{doc.Name}' is used twice");
            if (i < roots.Count - 1 && doc.Name == null) throw new MergeConfigException($"{where}: every document but the last needs a 'name' so later stages can use it");
            docs.Add(doc);
        }
        return new MergeConfig(path, docs.ToImmutable(), warnings.ToImmutable(), text);
    }

    private static MergeDocument ReadDocument(string where, YamlMappingNode map, ImmutableArray<string>.Builder warnings)
    {
        foreach (var key in map.Children.Keys)
        {
            string k = Scalar(where, key, "key");
            if (!KnownKeys.Contains(k)) warnings.Add($"{where}: unknown key '{k}' ignored");
        }
        if (Get(map, "modules") != null) throw new MergeConfigException($"{where}: 'modules' (per-module merges) is not supported; use 'models' or 'slices'");
        bool hasModels = Get(map, "models") is not null and not YamlScalarNode { Value: null or "" or "null" or "~" };
        bool hasSlices = Get(map, "slices") is not null and not YamlScalarNode { Value: null or "" or "null" or "~" };
        if (hasModels && hasSlices) throw new MergeConfigException($"{where}: give either 'models' or 'slices', not both");

        string method = GetString(where, map, "merge_method") ?? throw new MergeConfigException($"{where}: 'merge_method' is required");
        if (!MergeMethodRegistry.TryGet(method, out var mergeMethod))
            throw new MergeConfigException($"{where}: unknown merge_method '{method}'; supported: {string.Join(", ", MergeMethodRegistry.Names)}");

        var models = ImmutableArray.CreateBuilder<ModelEntry>();
        if (Get(map, "models") is { } modelsNode)
        {
            if (modelsNode is not YamlSequenceNode seq) throw new MergeConfigException($"{where}: 'models' must be a list");
            foreach (var item in seq) models.Add(ReadModel(where, item));
        }
        string? baseModel = GetString(where, map, "base_model");
        var slices = hasSlices ? SliceReader.Read(where, Get(map, "slices")!, ReadParameters, GetString, Get) : [];
        if (models.Count == 0 && slices.IsEmpty && baseModel == null) throw new MergeConfigException($"{where}: no models to merge ('models' is empty)");

        var parameters = Get(map, "parameters") is { } p ? ReadParameters(where, p, "parameters") : ParameterSet.Empty;
        string? tokenizerSource = GetString(where, map, "tokenizer_source");
        TokenizerSettings? tokenizer = null;
        if (Get(map, "tokenizer") is { } tokNode and not YamlScalarNode { Value: null or "" or "~" or "null" })
        {
            if (tokenizerSource != null) throw new MergeConfigException($"{where}: give either 'tokenizer_source' or 'tokenizer', not both");
            tokenizer = tokNode is YamlMappingNode tok ? TokenizerSettings.Read(where, tok) : throw new MergeConfigException($"{where}: 'tokenizer' must be a mapping (source, tokens, pad_to_multiple_of)");
            tokenizerSource = tokenizer.Source;
        }
        else if (tokenizerSource != null) tokenizer = new TokenizerSettings(tokenizerSource, ImmutableDictionary<string, TokenSetting>.Empty, null);

        var precision = ComputePrecision.Float32;
        if (GetString(where, map, "compute_dtype") is { } cd)
        {
            if (!DTypes.TryParseConfigName(cd, out var c) || c is not (DType.F32 or DType.BF16))
                throw new MergeConfigException($"{where}: compute_dtype '{cd}' must be float32 or bfloat16");
            precision = c == DType.BF16 ? ComputePrecision.BFloat16 : ComputePrecision.Float32;
        }
        var quantiles = GetString(where, map, "quantiles") switch
        {
            null or "exact" => QuantileMode.Exact,
            "sampled" => QuantileMode.Sampled,
            var q => throw new MergeConfigException($"{where}: quantiles '{q}' must be 'exact' or 'sampled'"),
        };
        string? seedText = GetString(where, map, "seed") ?? GetString(where, map, "random_seed");
        int seed = 0;
        if (seedText != null && !int.TryParse(seedText, NumberStyles.Integer, CultureInfo.InvariantCulture, out seed))
            throw new MergeConfigException($"{where}: seed '{seedText}' is not an integer");

        var doc = new MergeDocument
        {
            Name = GetString(where, map, "name"),
            Method = mergeMethod.Name,
            Models = models.ToImmutable(),
            Slices = slices,
            BaseModel = baseModel,
            Parameters = parameters,
            DType = ReadDType(where, map, "dtype"),
            OutDType = ReadDType(where, map, "out_dtype"),
            TokenizerSource = tokenizerSource,
            Tokenizer = tokenizer,
            ComputePrecision = precision,
            Quantiles = quantiles,
            Seed = seed,
            ChatTemplate = GetString(where, map, "chat_template"),
        };
        if (!doc.IsSliced)
        {
            mergeMethod.Validate(doc, where, warnings);
            return doc;
        }
        // Every slice is a merge of its own: the method's rules (model count, base, parameters) hold in each.
        var sliceWarnings = ImmutableArray.CreateBuilder<string>();
        for (int i = 0; i < slices.Length; i++)
        {
            var sliced = doc.ForSlice(i);
            if (mergeMethod.RequiresBase && sliced.BaseModel is null && (slices[i].BaseModel ?? baseModel) is { } b)
                throw new MergeConfigException($"{where}: slice {i + 1}: {mergeMethod.Name} needs base model '{b}' among the slice's sources");
            try
            {
                mergeMethod.Validate(sliced, where, sliceWarnings);
            }
            catch (MergeConfigException e)
            {
                throw new MergeConfigException($"{e.Message} (in slice {i + 1})", e);
            }
        }
        foreach (var w in sliceWarnings.Distinct()) warnings.Add(w);
        return doc;
    }

    private static DType? ReadDType(string where, YamlMappingNode map, string key)
    {
        var text = GetString(where, map, key);
        if (text == null) return null;
        if (!DTypes.TryParseConfigName(text, out var d) || !d.IsMathType())
            throw new MergeConfigException($"{where}: {key} '{text}' must be bfloat16, float16 or float32");
        return d;
    }

    private static ModelEntry ReadModel(string where, YamlNode item)
    {
        if (item is YamlScalarNode s) return new ModelEntry(Scalar(where, s, "model"), ParameterSet.Empty);
        if (item is not YamlMappingNode m) throw new MergeConfigException($"{where}: each entry of 'models' must be a path or a mapping with 'model'");
        string model = GetString(where, m, "model") ?? throw new MergeConfigException($"{where}: an entry of 'models' has no 'model'");
        var parameters = Get(m, "parameters") is { } p ? ReadParameters(where, p, $"parameters of '{model}'") : ParameterSet.Empty;
        return new ModelEntry(model, parameters);
    }

    internal static ParameterSet ReadParameters(string where, YamlNode node, string what)
    {
        if (node is YamlScalarNode { Value: null or "" }) return ParameterSet.Empty;
        if (node is not YamlMappingNode map) throw new MergeConfigException($"{where}: {what} must be a mapping");
        var values = ImmutableDictionary.CreateBuilder<string, ParameterSetting>(StringComparer.Ordinal);
        foreach (var (k, v) in map.Children)
        {
            string name = Scalar(where, k, "parameter name");
            values[name] = ReadSetting(where, v, $"{what}: '{name}'");
        }
        return new ParameterSet(values.ToImmutable());
    }

    private static ParameterSetting ReadSetting(string where, YamlNode node, string what)
    {
        switch (node)
        {
            case YamlScalarNode s:
                return new ParameterSetting.Scalar(ScalarValue(where, s, what));
            case YamlSequenceNode seq when seq.Children.All(c => c is YamlScalarNode):
                var values = seq.Children.Select(c => ScalarValue(where, (YamlScalarNode)c, what)).ToList();
                if (values.Count == 0) throw new MergeConfigException($"{where}: {what} is an empty list");
                if (values.All(v => v is double)) return new ParameterSetting.Gradient(values.Select(v => (double)v).ToImmutableArray());
                throw new MergeConfigException($"{where}: {what} mixes numbers and text");
            case YamlSequenceNode seq:
                var conditions = ImmutableArray.CreateBuilder<(string?, ParameterSetting)>();
                foreach (var c in seq)
                {
                    if (c is not YamlMappingNode cm || Get(cm, "value") is not { } value)
                        throw new MergeConfigException($"{where}: {what} must list numbers or {{filter, value}} entries");
                    conditions.Add((GetString(where, cm, "filter"), ReadSetting(where, value, what)));
                }
                return new ParameterSetting.Conditional(conditions.ToImmutable());
            default:
                throw new MergeConfigException($"{where}: {what} must be a number, a list of numbers or a list of {{filter, value}}");
        }
    }

    /// <summary>A plain scalar that reads as a number is a double, checked here, at the edge: .NET parses
    /// <c>NaN</c>, <c>Infinity</c> and <c>1e400</c> (as infinity), and YAML spells them <c>.nan</c> and <c>.inf</c>;
    /// none may reach a kernel, and neither may a value past float32's range, the precision merges compute in.</summary>
    private static object ScalarValue(string where, YamlScalarNode s, string what)
    {
        string v = s.Value ?? "";
        if (s.Style is ScalarStyle.Plain)
        {
            if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || IsYamlNonFinite(v))
            {
                if (!double.IsFinite(d) || IsYamlNonFinite(v)) throw new MergeConfigException($"{where}: {what} is '{v}': numbers must be finite");
                if (Math.Abs(d) > float.MaxValue) throw new MergeConfigException($"{where}: {what} is '{v}': numbers must fit in float32 (|x| <= {float.MaxValue:G9})");
                return d;
            }
            if (v is "true" or "True" or "TRUE") return true;
            if (v is "false" or "False" or "FALSE") return false;
        }
        return v;
    }

    /// <summary>YAML's spellings of NaN and infinity (<c>.nan</c>, <c>-.Inf</c>, ...), which .NET does not parse.</summary>
    private static bool IsYamlNonFinite(string v) =>
        v.TrimStart('+', '-').ToLowerInvariant() is ".nan" or ".inf";

    internal static YamlNode? Get(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null;

    internal static string? GetString(string where, YamlMappingNode map, string key) =>
        Get(map, key) switch
        {
            null => null,
            YamlScalarNode { Value: null or "" or "null" or "~" } => null,
            YamlScalarNode s => s.Value,
            _ => throw new MergeConfigException($"{where}: '{key}' must be a single value"),
        };

    private static string Scalar(string where, YamlNode node, string what) =>
        node is YamlScalarNode { Value: { } v } ? v : throw new MergeConfigException($"{where}: {what} must be a plain value");
}
