using System.Globalization;

namespace Engine.Training.Synthetic;

/// <summary>One fact of the science domain's table: one <see cref="Larger"/> is <see cref="Factor"/> <see cref="Smaller"/>.</summary>
internal sealed record UnitFact(string Larger, string Smaller, int Factor);

/// <summary>The science domain: conversions between invented units whose relations come from a fact table drawn from
/// the seed, so no backbone can know them before training on the domain:
/// <code>How many plims are in 7 zorbs?  ->  1 zorb = 4 plims, 7*4=28. \boxed{28}
/// How many zorbs are in 28 plims?  ->  1 zorb = 4 plims, 28/4=7. \boxed{7}</code>
/// An answer needs the recalled fact and a times-table step; held-out rows ask about quantities the training rows
/// never paired with that fact.</summary>
internal sealed class UnitConversionDomain : IExampleGenerator
{
    private const int MaxQuantity = 9;

    public UnitConversionDomain(int facts, int tableSeed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(facts, 1);
        Facts = Table(facts, new Random(tableSeed));
    }

    public string Name => "science";

    public IReadOnlyList<UnitFact> Facts { get; }

    public string Description =>
        $"conversions between invented units from a table of {Facts.Count} seeded facts (1 A = k B), in both directions, " +
        $"for quantities 1 to {MaxQuantity}: recall the fact, then multiply or divide";

    /// <summary>How many distinct questions there are: each fact, each quantity, both directions.</summary>
    public int QuestionCount => Facts.Count * MaxQuantity * 2;

    public SyntheticExample Next(Random random)
    {
        var fact = Facts[random.Next(Facts.Count)];
        int quantity = random.Next(1, MaxQuantity + 1);
        string given = $"1 {fact.Larger} = {fact.Factor} {fact.Smaller}s";
        if (random.Next(2) == 0)
        {
            int product = quantity * fact.Factor;
            return new SyntheticExample(Invariant($"How many {fact.Smaller}s are in {quantity} {fact.Larger}s?"),
                Invariant($"{given}, {quantity}*{fact.Factor}={product}. \\boxed{{{product}}}"));
        }
        int amount = quantity * fact.Factor;
        return new SyntheticExample(Invariant($"How many {fact.Larger}s are in {amount} {fact.Smaller}s?"),
            Invariant($"{given}, {amount}/{fact.Factor}={quantity}. \\boxed{{{quantity}}}"));
    }

    /// <summary><paramref name="count"/> facts over distinct invented names (consonant-vowel-consonant-consonant),
    /// each factor 2 to 9.</summary>
    private static UnitFact[] Table(int count, Random random)
    {
        const string consonants = "bdfgklmnprstvz", vowels = "aeiou";
        var names = new HashSet<string>(StringComparer.Ordinal);
        var ordered = new List<string>();
        while (ordered.Count < 2 * count)
        {
            string name = string.Concat(consonants[random.Next(consonants.Length)], vowels[random.Next(vowels.Length)],
                consonants[random.Next(consonants.Length)], consonants[random.Next(consonants.Length)]);
            if (names.Add(name)) ordered.Add(name);
        }
        return Enumerable.Range(0, count).Select(i => new UnitFact(ordered[2 * i], ordered[2 * i + 1], random.Next(2, 10))).ToArray();
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
