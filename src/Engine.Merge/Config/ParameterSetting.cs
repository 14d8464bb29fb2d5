using System.Collections.Immutable;

namespace Engine.Merge.Config;

/// <summary>A merge parameter as mergekit takes it: a scalar, a gradient (a list of numbers interpolated
/// piecewise-linearly over the layers), or a list of conditions (<c>filter</c> substrings matched against the
/// tensor name, first match wins, a condition without filter or with <c>*</c> matches everything).</summary>
public abstract record ParameterSetting
{
    /// <summary>The value for <paramref name="tensorName"/> at layer position <paramref name="t"/> in [0, 1]
    /// (<c>layer / (layers - 1)</c>; 0 for tensors outside the layer stack), or null when no condition matches.</summary>
    public abstract object? Evaluate(string tensorName, double t);

    /// <summary>One value for every tensor: a number or a boolean.</summary>
    /// <param name="Value">A <see cref="double"/> or a <see cref="bool"/>, as the YAML gave it.</param>
    public sealed record Scalar(object Value) : ParameterSetting
    {
        /// <inheritdoc/>
        public override object? Evaluate(string tensorName, double t) => Value;
        /// <summary>The value in invariant culture.</summary>
        public override string ToString() => Convert.ToString(Value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
    }

    /// <summary>A gradient over the layer stack: at position <c>t</c>, with <c>s = t (n - 1)</c>, <c>i = floor(s)</c>,
    /// <c>value = (1 - (s - i)) Points[i] + (s - i) Points[min(i + 1, n - 1)]</c>.</summary>
    /// <param name="Points">The n &gt;= 1 anchor values, first layer to last, spaced evenly.</param>
    public sealed record Gradient(ImmutableArray<double> Points) : ParameterSetting
    {
        /// <inheritdoc/>
        public override object? Evaluate(string tensorName, double t)
        {
            double scaled = t * (Points.Length - 1);
            int i0 = (int)scaled;
            int i1 = Math.Min(Points.Length - 1, i0 + 1);
            double frac = scaled - i0;
            return (1 - frac) * Points[i0] + frac * Points[i1];
        }

        /// <summary>The points as a YAML list, <c>[a, b, ...]</c>.</summary>
        public override string ToString() => "[" + string.Join(", ", Points) + "]";
    }

    /// <summary>A list of <c>filter</c>/<c>value</c> pairs: the first whose filter is null, <c>*</c>, or a substring of the
    /// tensor name gives the value.</summary>
    /// <param name="Conditions">The pairs in config order; a value may itself be a gradient.</param>
    public sealed record Conditional(ImmutableArray<(string? Filter, ParameterSetting Value)> Conditions) : ParameterSetting
    {
        /// <inheritdoc/>
        public override object? Evaluate(string tensorName, double t)
        {
            foreach (var (filter, value) in Conditions)
            {
                if (filter is null || filter == "*" || tensorName.Contains(filter, StringComparison.Ordinal)) return value.Evaluate(tensorName, t);
            }
            return null;
        }
    }
}

/// <summary>The parameters given to one model, one slice or the whole merge, by name. A set may lie over a
/// <see cref="Fallback"/> (a slice's parameters over the merge's): a name it lacks, or whose filters match
/// nothing for a tensor, is looked up there, as mergekit's ConfigReader does.</summary>
public sealed record ParameterSet(ImmutableDictionary<string, ParameterSetting> Values)
{
    /// <summary>No parameters and no fallback.</summary>
    public static readonly ParameterSet Empty = new(ImmutableDictionary<string, ParameterSetting>.Empty);

    /// <summary>Where names this set does not settle are looked up (null: nowhere).</summary>
    public ParameterSet? Fallback { get; init; }

    /// <summary>This set's own values over <paramref name="fallback"/>'s.</summary>
    public ParameterSet Over(ParameterSet fallback) => Values.Count == 0 && Fallback is null ? fallback : this with { Fallback = fallback };

    /// <summary>Whether this set or one of its fallbacks gives <paramref name="name"/> (whatever its filters match).</summary>
    public bool Contains(string name) => Values.ContainsKey(name) || (Fallback?.Contains(name) ?? false);

    /// <summary>Evaluates <paramref name="name"/> for a tensor; null when absent or when no filter matched.</summary>
    public object? Evaluate(string name, string tensorName, double t) =>
        (Values.TryGetValue(name, out var s) ? s.Evaluate(tensorName, t) : null) ?? Fallback?.Evaluate(name, tensorName, t);

    /// <summary>Every name this set or its fallbacks give.</summary>
    public IEnumerable<string> Names => Values.Keys.Concat(Fallback?.Names ?? []).Distinct(StringComparer.Ordinal);
}
