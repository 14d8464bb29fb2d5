using System.Globalization;

namespace Engine.Training.Synthetic;

/// <summary>The coding domain: what a two-line Python program prints, for one operation on a short string or list:
/// <code>s = "kqzt"
/// print(s[::-1])  ->  \boxed{tzqk}</code>
/// String operations: reverse, first and last character, length, doubling, sorting the characters, a slice;
/// list operations: sum, max, min, reverse. Strings are lower-case letters (exact match lower-cases, so upper-case
/// output would be checked loosely); numbers are single digits, so sums stay short.</summary>
internal sealed class ProgramOutputDomain : IExampleGenerator
{
    private delegate (string Expression, string Output) StringOperation(string s);

    private delegate (string Expression, string Output) ListOperation(int[] xs);

    private static readonly StringOperation[] StringOperations =
    [
        s => ("s[::-1]", new string(s.Reverse().ToArray())),
        s => ("s[0]", s[..1]),
        s => ("s[-1]", s[^1..]),
        s => ("len(s)", s.Length.ToString(CultureInfo.InvariantCulture)),
        s => ("s + s", s + s),
        s => ("\"\".join(sorted(s))", new string(s.Order().ToArray())),
        s => ("s[1:3]", s[1..3]),
    ];

    private static readonly ListOperation[] ListOperations =
    [
        xs => ("sum(xs)", xs.Sum().ToString(CultureInfo.InvariantCulture)),
        xs => ("max(xs)", xs.Max().ToString(CultureInfo.InvariantCulture)),
        xs => ("min(xs)", xs.Min().ToString(CultureInfo.InvariantCulture)),
        xs => ("xs[::-1]", ListText(xs.Reverse())),
    ];

    public string Name => "coding";

    public string Description =>
        "the output of a two-line Python program applying one string operation (reverse, index, length, doubling, sort, slice) " +
        "or list operation (sum, max, min, reverse) to a short literal";

    public SyntheticExample Next(Random random)
    {
        int pick = random.Next(StringOperations.Length + ListOperations.Length);
        if (pick < StringOperations.Length)
        {
            var s = new string(Enumerable.Range(0, random.Next(3, 7)).Select(_ => (char)('a' + random.Next(26))).ToArray());
            var (expression, output) = StringOperations[pick](s);
            return Example($"s = \"{s}\"", expression, output);
        }
        var xs = Enumerable.Range(0, random.Next(3, 6)).Select(_ => random.Next(10)).ToArray();
        var (listExpression, listOutput) = ListOperations[pick - StringOperations.Length](xs);
        return Example($"xs = {ListText(xs)}", listExpression, listOutput);
    }

    private static SyntheticExample Example(string assignment, string expression, string output) =>
        new($"What does this program print?\n{assignment}\nprint({expression})", $"\\boxed{{{output}}}");

    /// <summary>A list as Python prints it: <c>[3, 1, 4]</c>.</summary>
    private static string ListText(IEnumerable<int> xs) => "[" + string.Join(", ", xs.Select(x => x.ToString(CultureInfo.InvariantCulture))) + "]";
}
