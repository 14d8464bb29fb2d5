using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Numerics;
using Engine.Merge.Config;

namespace Engine.Merge.Execution;

/// <summary>The output vocabulary of a stage and, for every input, where each output token's embedding row comes
/// from, by mergekit's rules (tokenizer/build.py and tokenizer/embed.py):
/// <list type="bullet">
/// <item>The vocabulary: <c>base</c>, the base model's (cut to its embedding rows); a model, that model's;
/// <c>union</c>, the base's followed by every other model's tokens it lacks, as added tokens, in model order,
/// then the models' added tokens it lacks; then <c>tokens:</c> keys it lacks, as added tokens.</item>
/// <item>Each input's row of token t is its own row of t when it has t (and the token is not <c>force</c>d);
/// otherwise the token's default row: the configured source; else the one model's row when one model has t,
/// zeros when none does, the base's when the base has it, else the mean over the models that have it.</item>
/// <item>With <c>pad_to_multiple_of</c>, rows past the vocabulary are the mean of the vocabulary's rows.</item>
/// </list>
/// Embedding and head tensors of the inputs are rebuilt to this vocabulary (float32) before the merge.</summary>
public sealed class VocabularyPlan
{
    private readonly Dictionary<InputRef, int[]> _rows;
    private readonly Dictionary<int, DefaultRow> _defaults;

    /// <summary>Where the default row of a token comes from.</summary>
    private abstract record DefaultRow
    {
        public sealed record Mean : DefaultRow;
        public sealed record Zero : DefaultRow;
        public sealed record Row(InputRef Input, int Index) : DefaultRow;
    }

    private VocabularyPlan(ImmutableArray<string> tokens, int rows, Dictionary<InputRef, int[]> rowsOf, Dictionary<int, DefaultRow> defaults,
        HashSet<int> forced, ModelVocabulary source, JsonObject tokenizer, ImmutableArray<JsonObject> added)
    {
        Tokens = tokens;
        Rows = rows;
        _rows = rowsOf;
        _defaults = defaults;
        Forced = forced;
        Source = source;
        TokenizerJson = tokenizer;
        AddedTokens = added;
    }

    /// <summary>Output token text by id.</summary>
    public ImmutableArray<string> Tokens { get; }

    /// <summary>Output embedding rows: the vocabulary, padded up to <c>pad_to_multiple_of</c>.</summary>
    public int Rows { get; }

    /// <summary>Ids of the tokens whose configured source replaces even a model's own row.</summary>
    public IReadOnlySet<int> Forced { get; }

    /// <summary>The tokenizer the output's files are built from.</summary>
    public ModelVocabulary Source { get; }

    /// <summary>The output <c>tokenizer.json</c>.</summary>
    public JsonObject TokenizerJson { get; }

    /// <summary>Tokens the output adds to <see cref="Source"/>'s, as <c>added_tokens</c> entries.</summary>
    public ImmutableArray<JsonObject> AddedTokens { get; }

    /// <summary>True when some input's rows move or the vocabulary grows, shrinks or is padded; false when every
    /// input already has the output's rows in place (then embeddings merge as stored, as before this existed).</summary>
    public bool Reorders { get; private init; }

    /// <summary>Plans <paramref name="stage"/>'s vocabulary; null when the config asks for no tokenizer merge.</summary>
    public static VocabularyPlan? Create(string configPath, MergeStage stage)
    {
        if (stage.Document.Tokenizer is not { } settings) return null;
        var inputs = stage.Inputs.Distinct().ToList();
        var baseInput = stage.Base ?? inputs[0];
        // A plain tokenizer_source (base or a model) with no tokenizer.json to read keeps the engine's old rule:
        // copy the source's tokenizer files, truncate differing vocabularies to their common rows.
        bool plain = settings.Source != "union" && settings.Tokens.IsEmpty && settings.PadToMultipleOf is null;
        if (plain && inputs.Any(i => !ModelVocabulary.Exists(DirectoryOf(i)))) return null;
        var baseVocab = ModelVocabulary.Read(baseInput.Label, DirectoryOf(baseInput));
        // mergekit assumes a model without a tokenizer of its own uses the base's.
        var vocabs = inputs.ToDictionary(i => i, i => i == baseInput || !ModelVocabulary.Exists(DirectoryOf(i)) ? baseVocab : ModelVocabulary.Read(i.Label, DirectoryOf(i)));

        ModelVocabulary source;
        var tokens = new List<string>();
        var added = ImmutableArray.CreateBuilder<JsonObject>();
        void Add(string token, JsonObject? like)
        {
            var entry = like is null
                ? new JsonObject { ["content"] = token, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = true, ["special"] = false }
                : (JsonObject)like.DeepClone();
            entry["id"] = tokens.Count;
            added.Add(entry);
            tokens.Add(token);
        }
        switch (settings.Source)
        {
            case "base" or "union":
                source = baseVocab;
                break;
            default:
                var match = inputs.FirstOrDefault(i => i.Label == settings.Source)
                    ?? throw new MergeConfigException($"{configPath}: tokenizer source '{settings.Source}' is not one of the stage's models ({string.Join(", ", inputs.Select(i => i.Label))})");
                source = vocabs[match];
                break;
        }
        tokens.AddRange(Ordered(source, configPath));
        var present = new HashSet<string>(tokens, StringComparer.Ordinal);
        if (settings.Source == "union")
        {
            var addedByModel = inputs.Select(i => vocabs[i]).Distinct().ToList();
            foreach (var v in addedByModel)
            {
                var special = v.AddedTokens.Select(t => t["content"]!.GetValue<string>()).ToHashSet(StringComparer.Ordinal);
                foreach (var token in v.Ids.OrderBy(kv => kv.Value).Select(kv => kv.Key).Where(t => !special.Contains(t)))
                    if (present.Add(token)) Add(token, null);
            }
            foreach (var v in addedByModel)
                foreach (var t in v.AddedTokens)
                    if (present.Add(t["content"]!.GetValue<string>())) Add(t["content"]!.GetValue<string>(), t);
        }
        foreach (var token in settings.Tokens.Keys.Order(StringComparer.Ordinal))
            if (present.Add(token)) Add(token, null);

        int rows = tokens.Count;
        if (settings.PadToMultipleOf is { } m && rows % m != 0) rows = (rows / m + 1) * m;

        var rowsOf = inputs.ToDictionary(i => i, i => tokens.Select(t => vocabs[i].Ids.TryGetValue(t, out int r) ? r : -1).ToArray());
        var defaults = new Dictionary<int, DefaultRow>();
        var forced = new HashSet<int>();
        for (int id = 0; id < tokens.Count; id++)
        {
            string token = tokens[id];
            if (settings.Tokens.TryGetValue(token, out var setting) && setting.Source is { } configured)
            {
                defaults[id] = Resolve(configPath, token, id, configured, inputs, vocabs, rowsOf);
                if (setting.Force) forced.Add(id);
                continue;
            }
            var having = inputs.Where(i => rowsOf[i][id] >= 0).ToList();
            if (having.Count == inputs.Count) continue;
            defaults[id] = having.Count switch
            {
                0 => new DefaultRow.Zero(),
                1 => new DefaultRow.Row(having[0], rowsOf[having[0]][id]),
                _ when rowsOf[baseInput][id] >= 0 => new DefaultRow.Row(baseInput, rowsOf[baseInput][id]),
                _ => new DefaultRow.Mean(),
            };
        }
        bool reorders = rows != tokens.Count || forced.Count > 0 || inputs.Any(i => rowsOf[i].Select((r, id) => r != id).Any(x => x));
        return new VocabularyPlan([.. tokens], rows, rowsOf, defaults, forced, source, BuildTokenizerJson(source, added), added.ToImmutable()) { Reorders = reorders };
    }

    private static ModelDirectory DirectoryOf(InputRef input) => input switch
    {
        InputRef.Model m => m.Directory,
        InputRef.Stage s => s.Node.Primary,
        _ => throw new InvalidOperationException(),
    };

    /// <summary>The tokens of a vocabulary by id; ids must run 0..n-1 for rows to line up.</summary>
    private static IEnumerable<string> Ordered(ModelVocabulary vocab, string configPath)
    {
        var ordered = vocab.Ids.OrderBy(kv => kv.Value).ToList();
        for (int i = 0; i < ordered.Count; i++)
        {
            if (ordered[i].Value != i)
                throw new MergeConfigException($"{configPath}: {vocab.Path}: token ids are not contiguous (id {i} is missing); a vocabulary merge needs ids 0..n-1");
        }
        return ordered.Select(kv => kv.Key);
    }

    private static DefaultRow Resolve(string configPath, string token, int id, TokenSource configured, List<InputRef> inputs,
        Dictionary<InputRef, ModelVocabulary> vocabs, Dictionary<InputRef, int[]> rowsOf)
    {
        InputRef Find(string model) => inputs.FirstOrDefault(i => i.Label == model)
            ?? throw new MergeConfigException($"{configPath}: tokenizer.tokens['{token}'] names model '{model}', which is not part of the merge");
        switch (configured)
        {
            case TokenSource.Zero:
                return new DefaultRow.Zero();
            case TokenSource.FromModel f:
                var input = Find(f.Model);
                return rowsOf[input][id] >= 0 ? new DefaultRow.Row(input, rowsOf[input][id])
                    : throw new MergeConfigException($"{configPath}: tokenizer.tokens['{token}']: model '{f.Model}' has no token '{token}'");
            case TokenSource.ModelToken mt:
                var from = Find(mt.Model);
                int row = mt.TokenId ?? (vocabs[from].Ids.TryGetValue(mt.Token!, out int r) ? r
                    : throw new MergeConfigException($"{configPath}: tokenizer.tokens['{token}']: token '{mt.Token}' is not in model '{mt.Model}'"));
                return row < vocabs[from].Rows ? new DefaultRow.Row(from, row)
                    : throw new MergeConfigException($"{configPath}: tokenizer.tokens['{token}']: token id {row} is past model '{mt.Model}''s {vocabs[from].Rows} rows");
            default:
                throw new InvalidOperationException();
        }
    }

    /// <summary>The source's <c>tokenizer.json</c> with tokens past its embedding dropped and the new tokens appended.</summary>
    private static JsonObject BuildTokenizerJson(ModelVocabulary source, ImmutableArray<JsonObject>.Builder added)
    {
        var doc = (JsonObject)source.Document.DeepClone();
        var kept = new JsonArray(source.AddedTokens.Select(t => (JsonNode)t.DeepClone()).Concat(added.Select(t => (JsonNode)t.DeepClone())).ToArray());
        doc["added_tokens"] = kept;
        if (doc["model"]?["vocab"] is JsonObject vocab)
        {
            foreach (var token in vocab.Where(kv => !source.Ids.ContainsKey(kv.Key)).Select(kv => kv.Key).ToList()) vocab.Remove(token);
        }
        return doc;
    }

    /// <summary>The inputs' embedding (or head) tensors rebuilt to the output vocabulary: <see cref="Rows"/> rows of
    /// <paramref name="width"/> float32 values each, owned by <paramref name="scope"/>.</summary>
    internal unsafe List<RawTensor> Rebuild(IReadOnlyList<(InputRef Input, RawTensor Tensor)> inputs, long width, TensorScope scope)
    {
        var defaults = new Dictionary<int, float[]>();
        float[] RowOf(InputRef input, int index)
        {
            var (_, tensor) = inputs.First(x => x.Input == input);
            var values = new float[width];
            tensor.ReadSingles(index * width, values);
            return values;
        }
        foreach (var (id, source) in _defaults)
        {
            defaults[id] = source switch
            {
                DefaultRow.Zero => new float[width],
                DefaultRow.Row r => RowOf(r.Input, r.Index),
                DefaultRow.Mean => Mean(inputs.Where(x => _rows[x.Input][id] >= 0).Select(x => RowOf(x.Input, _rows[x.Input][id])).ToList(), width),
                _ => throw new InvalidOperationException(),
            };
        }
        var result = new List<RawTensor>();
        foreach (var (input, tensor) in inputs)
        {
            var copy = scope.Own(new NativeArray<float>(Rows * width));
            var target = copy.AsRaw(DType.F32);
            var rowsOf = _rows[input];
            var sum = new double[width];
            for (int id = 0; id < Tokens.Length; id++)
            {
                var span = copy.Slice(id * width, (int)width);
                if (rowsOf[id] >= 0 && !Forced.Contains(id)) tensor.ReadSingles(rowsOf[id] * width, span);
                else if (defaults.TryGetValue(id, out var d)) d.CopyTo(span);
                else span.Clear();
                for (int j = 0; j < width; j++) sum[j] += span[j];
            }
            // Padding rows: the vocabulary's mean row, which keeps new tokens' logits ordinary.
            for (int id = Tokens.Length; id < Rows; id++)
            {
                var span = copy.Slice(id * width, (int)width);
                for (int j = 0; j < width; j++) span[j] = (float)(sum[j] / Tokens.Length);
            }
            result.Add(target);
        }
        return result;
    }

    private static float[] Mean(List<float[]> rows, long width)
    {
        var mean = new float[width];
        for (int j = 0; j < width; j++) mean[j] = (float)(rows.Sum(r => (double)r[j]) / rows.Count);
        return mean;
    }
}
