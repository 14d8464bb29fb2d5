using System.Collections.Immutable;
using System.Globalization;
using Engine.Training.Data;
using Engine.Training.Sft;
using Engine.Training.Templates;

namespace Engine.Pipeline.Recipes;

/// <summary>SFT settings of a recipe (<c>sft:</c> and each <c>branches.NAME:</c>), under the names of <c>engine sft</c>'s
/// options with <c>_</c> for <c>-</c>. Each value is checked for its type when read and kept in one canonical
/// spelling, so that the settings hash the same however the YAML spelled them; values a key does not set take
/// <c>engine sft</c>'s defaults when <see cref="ToOptions"/> builds the trainer's options.</summary>
public sealed class SftSettings
{
    private enum Kind { Number, Integer, Flag, Text, Schedule, Packing, Template }

    private static readonly ImmutableSortedDictionary<string, Kind> KeyKinds = new Dictionary<string, Kind>
    {
        ["lr"] = Kind.Number, ["lr_schedule"] = Kind.Schedule, ["warmup_ratio"] = Kind.Number, ["epochs"] = Kind.Integer,
        ["max_steps"] = Kind.Integer, ["batch_size"] = Kind.Integer, ["grad_accum"] = Kind.Integer, ["seq_len"] = Kind.Integer,
        ["packing"] = Kind.Packing, ["adam_beta1"] = Kind.Number, ["adam_beta2"] = Kind.Number, ["adam_eps"] = Kind.Number,
        ["weight_decay"] = Kind.Number, ["max_grad_norm"] = Kind.Number, ["seed"] = Kind.Integer, ["save_steps"] = Kind.Integer,
        ["threads"] = Kind.Integer, ["zero_stage"] = Kind.Integer, ["template"] = Kind.Template, ["system"] = Kind.Text,
        ["skip_bad_rows"] = Kind.Flag,
    }.ToImmutableSortedDictionary(StringComparer.Ordinal);

    /// <summary>Keys that change how fast a run goes or how often it saves, never what it computes: left out of
    /// the step hashes, so changing them reuses finished steps.</summary>
    private static readonly ImmutableHashSet<string> NotHashed = ["threads", "save_steps"];

    private readonly ImmutableSortedDictionary<string, string> _values;

    private SftSettings(ImmutableSortedDictionary<string, string> values) => _values = values;

    /// <summary>No key set: every SFT option takes the trainer's default.</summary>
    public static SftSettings Empty { get; } = new(ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal));

    /// <summary>Every key a recipe may set.</summary>
    public static IEnumerable<string> Keys => KeyKinds.Keys;

    /// <summary>These settings with <paramref name="key"/> set; an unknown key or a value of the wrong type is an
    /// <see cref="ArgumentException"/> naming both.</summary>
    public SftSettings Set(string key, string value)
    {
        if (!KeyKinds.TryGetValue(key, out var kind))
            throw new ArgumentException($"unknown SFT setting '{key}' (known: {string.Join(", ", KeyKinds.Keys)})");
        return new SftSettings(_values.SetItem(key, Canonical(key, kind, value.Trim())));
    }

    /// <summary>These settings with every value of <paramref name="over"/> on top.</summary>
    public SftSettings With(SftSettings over) => new(_values.SetItems(over._values));

    /// <summary>The value of <paramref name="key"/>, or null when unset.</summary>
    public string? this[string key] => _values.GetValueOrDefault(key);

    /// <summary>The settings that decide what a run computes, as one canonical line for hashing.</summary>
    public string Canonical() => string.Join(";", _values.Where(kv => !NotHashed.Contains(kv.Key)).Select(kv => $"{kv.Key}={kv.Value}"));

    /// <summary>The trainer's options: unset values take <c>engine sft</c>'s defaults (lr 1e-5, cosine schedule,
    /// 1 epoch, batch 1, seq_len 2048, greedy packing, ...), the seed <paramref name="seed"/> unless set here;
    /// <paramref name="maxSteps"/> replaces <c>max_steps</c> when given. Out-of-range values are an
    /// <see cref="ArgumentException"/> naming the option.</summary>
    public SftOptions ToOptions(int seed, long? maxSteps = null) => new(
        Number("lr", 1e-5), this["lr_schedule"] is { } s ? SftOptionNames.ParseLrSchedule(s) : LrSchedule.Cosine, Number("warmup_ratio", 0),
        (int)Integer("epochs", 1), maxSteps ?? Integer("max_steps", 0), (int)Integer("batch_size", 1), (int)Integer("grad_accum", 1),
        (int)Integer("seq_len", 2048), this["packing"] is { } p ? SftOptionNames.ParsePacking(p) : PackingMode.Greedy,
        Number("adam_beta1", 0.9), Number("adam_beta2", 0.999), Number("adam_eps", 1e-8), Number("weight_decay", 0), Number("max_grad_norm", 1.0),
        (int)Integer("seed", seed), Integer("save_steps", 0), (int)Integer("threads", 0), this["zero_stage"] is null ? null : (int)Integer("zero_stage", 1));

    /// <summary>How data files become examples: the template, the system prompt, whether bad rows are skipped.</summary>
    public DatasetOptions ToDatasetOptions() => new(ChatTemplateName.Qwen, this["system"], this["skip_bad_rows"] == "true");

    private double Number(string key, double fallback) => this[key] is { } v ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

    private long Integer(string key, long fallback) => this[key] is { } v ? long.Parse(v, CultureInfo.InvariantCulture) : fallback;

    private static string Canonical(string key, Kind kind, string value)
    {
        switch (kind)
        {
            case Kind.Number:
                if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) || !double.IsFinite(d))
                    throw new ArgumentException($"'{value}' is not a finite number");
                return d.ToString("R", CultureInfo.InvariantCulture);
            case Kind.Integer:
                if (!long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long n) || n > int.MaxValue && key is not "max_steps" and not "save_steps")
                    throw new ArgumentException($"'{value}' is not an integer");
                return n.ToString(CultureInfo.InvariantCulture);
            case Kind.Flag:
                return value switch
                {
                    "true" or "True" or "yes" => "true",
                    "false" or "False" or "no" => "false",
                    _ => throw new ArgumentException($"'{value}' is not true or false"),
                };
            case Kind.Schedule:
                return SftOptionNames.Of(SftOptionNames.ParseLrSchedule(value));
            case Kind.Packing:
                return SftOptionNames.Of(SftOptionNames.ParsePacking(value));
            case Kind.Template:
                return value == "qwen" ? value : throw new ArgumentException($"unknown template '{value}' (known: qwen)");
            default:
                return value;
        }
    }
}
