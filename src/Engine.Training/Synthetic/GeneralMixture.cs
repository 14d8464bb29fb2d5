using System.Globalization;

namespace Engine.Training.Synthetic;

/// <summary>The backbone's pre-training text: short exchanges that teach the chat format, the <c>\boxed{...}</c>
/// answer and general skills (copying a word, counting marks, the next number, single-digit sums and the times
/// table), phrased unlike any domain. The backbone so learns to answer in the format, and knows the small facts the
/// domains build on, but never sees a domain's question: multi-digit sums with a trace, programs, or unit facts.</summary>
internal sealed class GeneralMixture : IExampleGenerator
{
    private static readonly Func<Random, SyntheticExample>[] Tasks = [Copy, Count, Successor, Sum, Product];

    public string Name => "general";

    public string Description => "copying a word, counting marks, the next number, single-digit sums and the times table, each answered in \\boxed{}";

    public SyntheticExample Next(Random random) => Tasks[random.Next(Tasks.Length)](random);

    private static SyntheticExample Copy(Random random)
    {
        var word = new string(Enumerable.Range(0, random.Next(2, 8)).Select(_ => (char)('a' + random.Next(26))).ToArray());
        return new SyntheticExample($"Repeat the word {word}.", $"\\boxed{{{word}}}");
    }

    private static SyntheticExample Count(Random random)
    {
        int n = random.Next(1, 10);
        return new SyntheticExample($"Count the marks: {string.Join(' ', Enumerable.Repeat('#', n))}", Boxed(n));
    }

    private static SyntheticExample Successor(Random random)
    {
        int n = random.Next(0, 999);
        return new SyntheticExample(Invariant($"Which number follows {n}?"), Boxed(n + 1));
    }

    private static SyntheticExample Sum(Random random)
    {
        int a = random.Next(10), b = random.Next(10);
        return new SyntheticExample(Invariant($"Add {a} and {b}."), Boxed(a + b));
    }

    private static SyntheticExample Product(Random random)
    {
        int a = random.Next(1, 10), b = random.Next(1, 10);
        return new SyntheticExample(Invariant($"Multiply {a} by {b}."), Boxed(a * b));
    }

    private static string Boxed(int n) => Invariant($"\\boxed{{{n}}}");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
