using System.Collections.Immutable;
using System.Globalization;
using YamlDotNet.RepresentationModel;

namespace Engine.Merge.Config;

/// <summary>Where the embedding row of one output token comes from when mergekit's default rule does not
/// apply or is overridden (<c>tokenizer.tokens.TOKEN.source</c>).</summary>
public abstract record TokenSource
{
    /// <summary>The row of the same token in <see cref="Model"/>.</summary>
    public sealed record FromModel(string Model) : TokenSource;

    /// <summary>The row of token <see cref="TokenId"/>, or of token text <see cref="Token"/>, in <see cref="Model"/>'s
    /// own vocabulary (<c>kind: model_token</c>).</summary>
    public sealed record ModelToken(string Model, int? TokenId, string? Token) : TokenSource;

    /// <summary>A row of zeros (<c>kind: zero</c>).</summary>
    public sealed record Zero : TokenSource;
}

/// <summary>One entry of <c>tokenizer.tokens</c>: a source for the token's row (null: mergekit's default), and
/// <c>force</c>: use that source even in models that have the token.</summary>
public sealed record TokenSetting(TokenSource? Source, bool Force);

/// <summary>mergekit's <c>tokenizer:</c> block (or <c>tokenizer_source:</c>): the output vocabulary's source
/// (<c>base</c>, <c>union</c> or a model), tokens to add or whose rows to choose, and the row count's multiple.</summary>
public sealed record TokenizerSettings(string Source, ImmutableDictionary<string, TokenSetting> Tokens, int? PadToMultipleOf)
{
    /// <summary>Reads a <c>tokenizer:</c> mapping. mergekit's default source there is <c>union</c>.</summary>
    internal static TokenizerSettings Read(string where, YamlMappingNode map)
    {
        foreach (var key in map.Children.Keys)
        {
            if (key is YamlScalarNode { Value: var k } && k is not ("source" or "tokens" or "pad_to_multiple_of"))
                throw new MergeConfigException($"{where}: tokenizer has unknown key '{k}' (it takes source, tokens, pad_to_multiple_of)");
        }
        string source = MergeConfigReader.GetString(where, map, "source") ?? "union";
        int? pad = null;
        if (MergeConfigReader.GetString(where, map, "pad_to_multiple_of") is { } padText)
        {
            pad = int.TryParse(padText, NumberStyles.None, CultureInfo.InvariantCulture, out int p) && p > 0
                ? p : throw new MergeConfigException($"{where}: tokenizer.pad_to_multiple_of '{padText}' must be a positive integer");
        }
        var tokens = ImmutableDictionary.CreateBuilder<string, TokenSetting>(StringComparer.Ordinal);
        if (MergeConfigReader.Get(map, "tokens") is { } tokensNode and not YamlScalarNode { Value: null or "" })
        {
            if (tokensNode is not YamlMappingNode tokenMap) throw new MergeConfigException($"{where}: tokenizer.tokens must be a mapping of token to settings");
            foreach (var (k, v) in tokenMap.Children)
            {
                string token = k is YamlScalarNode { Value: { } t } ? t : throw new MergeConfigException($"{where}: tokenizer.tokens keys must be token strings");
                tokens[token] = ReadToken(where, token, v);
            }
        }
        return new TokenizerSettings(source, tokens.ToImmutable(), pad);
    }

    private static TokenSetting ReadToken(string where, string token, YamlNode node)
    {
        if (node is YamlScalarNode { Value: null or "" }) return new TokenSetting(null, false);
        if (node is not YamlMappingNode map) throw new MergeConfigException($"{where}: tokenizer.tokens['{token}'] must be a mapping (source, force)");
        bool force = MergeConfigReader.GetString(where, map, "force") is { } f
            && (f is "true" or "True" ? true : f is "false" or "False" ? false : throw new MergeConfigException($"{where}: tokenizer.tokens['{token}'].force '{f}' must be true or false"));
        TokenSource? source = MergeConfigReader.Get(map, "source") switch
        {
            null => null,
            YamlScalarNode { Value: null or "" or "~" or "null" } => null,
            YamlScalarNode s => new TokenSource.FromModel(s.Value!),
            YamlMappingNode m => ReadSource(where, token, m),
            _ => throw new MergeConfigException($"{where}: tokenizer.tokens['{token}'].source must be a model or a mapping with 'kind'"),
        };
        if (force && source is null) throw new MergeConfigException($"{where}: tokenizer.tokens['{token}'] sets force without a source");
        return new TokenSetting(source, force);
    }

    private static TokenSource ReadSource(string where, string token, YamlMappingNode m)
    {
        string what = $"tokenizer.tokens['{token}'].source";
        switch (MergeConfigReader.GetString(where, m, "kind"))
        {
            case "zero":
                return new TokenSource.Zero();
            case "model_token":
                string model = MergeConfigReader.GetString(where, m, "model") ?? throw new MergeConfigException($"{where}: {what} (model_token) needs 'model'");
                string? idText = MergeConfigReader.GetString(where, m, "token_id");
                string? text = MergeConfigReader.GetString(where, m, "token");
                if ((idText is null) == (text is null)) throw new MergeConfigException($"{where}: {what} (model_token) needs exactly one of 'token_id' and 'token'");
                int? id = null;
                if (idText is not null)
                    id = int.TryParse(idText, NumberStyles.None, CultureInfo.InvariantCulture, out int i) ? i : throw new MergeConfigException($"{where}: {what}.token_id '{idText}' must be a non-negative integer");
                return new TokenSource.ModelToken(model, id, text);
            case var kind:
                throw new MergeConfigException($"{where}: {what} has kind '{kind}'; it must be 'zero' or 'model_token' (or give a model name)");
        }
    }
}
