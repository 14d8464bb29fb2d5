using System.Collections.Immutable;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Engine.Core.Model;

/// <summary>One stack of numbered layers in a checkpoint: tensors named <c>{Prefix}.{N}.{rest}</c>
/// (<c>model.layers.N.</c> in Llama, Qwen2, Mistral, Gemma, Phi-3 and Granite; <c>h.N.</c> or
/// <c>transformer.h.N.</c> in GPT-2; <c>language_model.model.layers.N.</c> in a LLaVA's language model).</summary>
/// <param name="Prefix">The name up to the layer number, without the dot (<c>model.layers</c>).</param>
/// <param name="Count">Layers in the stack: the config's count for the decoder, else the highest index + 1.</param>
public sealed record LayerStack(string Prefix, int Count);

/// <summary>Where a model keeps its decoder layers and how its config counts them, found from the tensor names
/// and <c>config.json</c> rather than from a table of architectures, so that a new model with the usual layout
/// needs no code. The decoder is the one layer stack when there is one, else the stack under
/// <c>language_model</c> (a vision-language model's text tower); other stacks (a vision tower) are left whole.</summary>
public sealed partial class ModelLayout
{
    /// <summary>The config keys that count decoder layers, in the order transformers' configs use them.</summary>
    private static readonly string[] CountKeys = ["num_hidden_layers", "n_layer", "num_layers", "n_layers"];

    private readonly ImmutableArray<LayerStack> _stacks;
    private readonly string? _problem;

    private ModelLayout(string label, string architecture, ImmutableArray<LayerStack> stacks, LayerStack? decoder, ImmutableArray<string> countKey, string? problem)
    {
        Label = label;
        Architecture = architecture;
        _stacks = stacks;
        Decoder = decoder;
        CountKey = countKey;
        _problem = problem;
    }

    /// <summary>The model as the user named it, for messages.</summary>
    public string Label { get; }

    /// <summary><c>architectures[0]</c> of the config, else its <c>model_type</c>, else "unknown architecture".</summary>
    public string Architecture { get; }

    /// <summary>The decoder's layer stack; null when none was recognised (see <see cref="RequireDecoder"/>).</summary>
    public LayerStack? Decoder { get; }

    /// <summary>The path of the decoder's layer count in <c>config.json</c> (<c>["num_hidden_layers"]</c>,
    /// <c>["n_layer"]</c>, <c>["text_config", "num_hidden_layers"]</c>).</summary>
    public ImmutableArray<string> CountKey { get; }

    [GeneratedRegex(@"^(?<prefix>(?:[^.]+\.)*?(?:layers|layer|h|blocks|block))\.(?<index>\d+)\.")]
    private static partial Regex LayerName();

    /// <summary>Reads the layout of <paramref name="model"/>; never throws: an unrecognised layout is reported
    /// by <see cref="RequireDecoder"/> when a merge needs the layers.</summary>
    public static ModelLayout Detect(string label, ModelDirectory model)
    {
        var config = model.Config;
        string architecture = config?.Architecture ?? config?.ModelType ?? "unknown architecture";
        var highest = new Dictionary<string, int>(StringComparer.Ordinal);
        var present = new HashSet<(string, int)>();
        foreach (var t in model.Tensors)
        {
            if (Parse(t.Name) is not { } p) continue;
            highest[p.Prefix] = Math.Max(highest.GetValueOrDefault(p.Prefix, -1), p.Index);
            present.Add((p.Prefix, p.Index));
        }
        var stacks = highest.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => new LayerStack(kv.Key, kv.Value + 1)).ToList();
        string tensorsSeen = string.Join(", ", model.Tensors.Take(3).Select(t => $"'{t.Name}'"));
        if (stacks.Count == 0)
            return new ModelLayout(label, architecture, [], null, [],
                $"no numbered layer tensors (names like 'model.layers.N.…' or 'h.N.…'; found {tensorsSeen}{(model.Tensors.Count > 3 ? ", …" : "")})");

        var decoder = stacks.Count == 1 ? stacks[0] : stacks.SingleOrDefault(s => s.Prefix.Contains("language_model", StringComparison.Ordinal));
        if (decoder is null)
            return new ModelLayout(label, architecture, [.. stacks], null, [],
                $"{stacks.Count} layer stacks ({string.Join(", ", stacks.Select(s => $"'{s.Prefix}.N' x{s.Count}"))}) and none under 'language_model' to take as the decoder");

        // A vision-language model counts its text layers in text_config.
        JsonObject? scope = config?.Root;
        var path = ImmutableArray.CreateBuilder<string>();
        if (decoder.Prefix.Contains("language_model", StringComparison.Ordinal) && config?.Root["text_config"] is JsonObject text)
        {
            scope = text;
            path.Add("text_config");
        }
        string? key = scope is null ? null : CountKeys.FirstOrDefault(k => scope[k] is JsonValue);
        key ??= decoder.Prefix == "h" || decoder.Prefix.EndsWith(".h", StringComparison.Ordinal) ? "n_layer" : "num_hidden_layers";
        path.Add(key);
        string? problem = null;
        if (scope?[key] is JsonValue v && v.TryGetValue(out int configured) && configured != decoder.Count)
            problem = $"config.json says {string.Join('.', path)} = {configured} but the tensors hold {decoder.Count} layers under '{decoder.Prefix}'";
        else
        {
            var missing = Enumerable.Range(0, decoder.Count).FirstOrDefault(i => !present.Contains((decoder.Prefix, i)), -1);
            if (missing >= 0) problem = $"layer {missing} of '{decoder.Prefix}' has no tensors although layer {decoder.Count - 1} does";
        }
        var decoderCount = config is null ? decoder.Count : DecoderCount(config, decoder);
        var stacksOut = stacks.Select(s => s == decoder ? s with { Count = decoderCount } : s).ToImmutableArray();
        return new ModelLayout(label, architecture, stacksOut, decoder with { Count = decoderCount }, path.ToImmutable(), problem);
    }

    /// <summary>The decoder count gradients are spread over: <c>num_hidden_layers</c> when the config gives it
    /// (what the engine has always used), else the tensors' count.</summary>
    private static int DecoderCount(ModelConfig config, LayerStack decoder) =>
        decoder.Prefix.Contains("language_model", StringComparison.Ordinal) ? decoder.Count : config.NumHiddenLayers ?? decoder.Count;

    /// <summary>This layout with a decoder of <paramref name="layers"/> layers (a sliced merge's output).</summary>
    public ModelLayout WithDecoderCount(int layers)
    {
        var decoder = RequireDecoder() with { Count = layers };
        return new ModelLayout(Label, Architecture, _stacks.Select(s => s.Prefix == decoder.Prefix ? decoder : s).ToImmutableArray(), decoder, CountKey, null);
    }

    /// <summary>The decoder stack, or a <see cref="ModelDirectoryException"/> naming the model, its
    /// architecture and what was wrong with its layout.</summary>
    public LayerStack RequireDecoder()
    {
        if (Decoder is { } d && _problem is null) return d;
        throw new ModelDirectoryException($"model '{Label}' ({Architecture}): cannot map its layers for a sliced merge: {_problem}");
    }

    /// <summary>The stack prefix and layer index of a tensor name, or null outside every stack.</summary>
    public static (string Prefix, int Index, string Suffix)? Parse(string tensorName)
    {
        var m = LayerName().Match(tensorName);
        if (!m.Success || !int.TryParse(m.Groups["index"].ValueSpan, out int index)) return null;
        return (m.Groups["prefix"].Value, index, tensorName[m.Length..]);
    }

    /// <summary>The decoder layer of a tensor, or -1 when it is not in the decoder.</summary>
    public int DecoderLayer(string tensorName) =>
        Decoder is { } d && Parse(tensorName) is { } p && p.Prefix == d.Prefix ? p.Index : -1;

    /// <summary>The name of decoder layer <paramref name="layer"/>'s tensor <paramref name="rest"/> (the part after <c>N.</c>).</summary>
    public string DecoderTensor(int layer, string rest) => $"{RequireDecoder().Prefix}.{layer}.{rest}";

    /// <summary>mergekit's gradient position of a tensor: <c>N / (layers - 1)</c> in its layer stack (1 for a
    /// stack of one layer), 0 outside every stack.</summary>
    public double LayerPosition(string tensorName)
    {
        if (Parse(tensorName) is not { } p) return 0;
        var stack = _stacks.FirstOrDefault(s => s.Prefix == p.Prefix);
        if (stack is null) return 0;
        return stack.Count > 1 ? Math.Clamp((double)p.Index / (stack.Count - 1), 0, 1) : 1;
    }

    /// <summary>True for a tensor outside the decoder that comes before it in the forward pass: embeddings and
    /// other towers (vision encoder, projector); the rest (final norm, head) comes after it. mergekit takes the
    /// former from the first slice's sources and the latter from the last slice's.</summary>
    public static bool IsBeforeDecoder(string tensorName) =>
        tensorName.Contains("embed", StringComparison.Ordinal) || tensorName.Contains("wte.", StringComparison.Ordinal)
        || tensorName.Contains("wpe.", StringComparison.Ordinal) || tensorName.Contains("vision", StringComparison.Ordinal)
        || tensorName.Contains("visual", StringComparison.Ordinal) || tensorName.Contains("projector", StringComparison.Ordinal);

    /// <summary>A copy of <paramref name="config"/> with the decoder's layer count set to <paramref name="layers"/>.</summary>
    public JsonObject WithLayerCount(JsonObject config, int layers)
    {
        if (CountKey.IsDefaultOrEmpty) return config;
        JsonObject scope = config;
        foreach (var key in CountKey.Take(CountKey.Length - 1))
        {
            if (scope[key] is not JsonObject inner) return config;
            scope = inner;
        }
        scope[CountKey[^1]] = layers;
        return config;
    }
}
