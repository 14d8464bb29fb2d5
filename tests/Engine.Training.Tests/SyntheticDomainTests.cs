using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Engine.Testing;
using Engine.Training.Evaluation;
using Engine.Training.Synthetic;

namespace Engine.Training.Tests;

/// <summary>The embedded experiment's generated domains: seeded bytes, answers recomputed here from the questions
/// alone, held-out rows never trained on, and every reference found by the answer rule.</summary>
public sealed partial class SyntheticDomainTests
{
    /// <summary>Big enough to hit every operation and fact, small enough to write in milliseconds.</summary>
    internal static readonly ExperimentSize Tiny = ExperimentSize.Default with { Name = "test", MathTrainRows = 400, CodingTrainRows = 300, ScienceTrainRows = 300, EvalRows = 60 };

    internal sealed record Row(string System, string Prompt, string Reply);

    internal static List<Row> ReadRows(string path) => File.ReadAllLines(path).Select(line =>
    {
        var messages = JsonDocument.Parse(line).RootElement.GetProperty("messages");
        string Content(int i) => messages[i].GetProperty("content").GetString()!;
        Assert.Equal(["system", "user", "assistant"], messages.EnumerateArray().Select(m => m.GetProperty("role").GetString()));
        return new Row(Content(0), Content(1), Content(2));
    }).ToList();

    [Fact]
    public void SameSeedGivesSameBytesAndAnotherSeedOtherRows()
    {
        using var temp = new TempDirectory();
        var a = SyntheticExperiment.WriteDomains(temp.Combine("a"), Tiny, seed: 7);
        var b = SyntheticExperiment.WriteDomains(temp.Combine("b"), Tiny, seed: 7);
        var c = SyntheticExperiment.WriteDomains(temp.Combine("c"), Tiny, seed: 8);
        Assert.Equal(["math", "coding", "science"], a.Select(d => d.Name));
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(File.ReadAllBytes(a[i].TrainPath), File.ReadAllBytes(b[i].TrainPath));
            Assert.Equal(File.ReadAllBytes(a[i].EvalPath), File.ReadAllBytes(b[i].EvalPath));
            var first = ReadRows(a[i].TrainPath).Select(r => r.Prompt).ToHashSet();
            var other = ReadRows(c[i].TrainPath).Select(r => r.Prompt).ToList();
            Assert.True(other.Count(p => !first.Contains(p)) > other.Count / 10, $"{a[i].Name}: seed 8 repeats seed 7's rows");
        }
    }

    [Fact]
    public void HeldOutRowsAreDistinctAndNeverTrainedOn()
    {
        using var temp = new TempDirectory();
        foreach (var d in SyntheticExperiment.WriteDomains(temp.Path, Tiny, seed: 3))
        {
            var eval = ReadRows(d.EvalPath);
            var train = ReadRows(d.TrainPath);
            Assert.Equal(Tiny.EvalRows, eval.Count);
            Assert.Equal(Tiny.TrainRowsOf(d.Name), train.Count);
            Assert.Equal(eval.Count, eval.Select(r => r.Prompt).Distinct().Count());
            var held = eval.Select(r => r.Prompt).ToHashSet();
            Assert.DoesNotContain(train, r => held.Contains(r.Prompt));
        }
    }

    [Fact]
    public void MathAnswersAndTracesAreRight()
    {
        using var temp = new TempDirectory();
        var math = SyntheticExperiment.WriteDomains(temp.Path, Tiny with { MathDigits = 3 }, seed: 5)[0];
        foreach (var row in ReadRows(math.TrainPath).Concat(ReadRows(math.EvalPath)))
        {
            var q = MathQuestion().Match(row.Prompt);
            Assert.True(q.Success, row.Prompt);
            long a = long.Parse(q.Groups[1].Value, CultureInfo.InvariantCulture), b = long.Parse(q.Groups[2].Value, CultureInfo.InvariantCulture);
            Assert.Equal(3, q.Groups[1].Length);
            Assert.Equal((a + b).ToString(CultureInfo.InvariantCulture), AnswerExtraction.Extract(row.Reply));
            // Every step of the trace is a true sum of the right column's digits plus the carry the previous step left.
            var steps = MathStep().Matches(row.Reply);
            Assert.Equal(3, steps.Count);
            long carry = 0;
            for (int i = 0; i < steps.Count; i++)
            {
                var g = steps[i].Groups;
                long x = Digit(g[1]), y = Digit(g[2]), c = g[3].Success ? Digit(g[3]) : 0, s = long.Parse(g[4].Value, CultureInfo.InvariantCulture);
                Assert.Equal((a / Pow10(i) % 10, b / Pow10(i) % 10, carry), (x, y, c));
                Assert.Equal(x + y + c, s);
                carry = s / 10;
            }
        }
    }

    [Fact]
    public void ProgramOutputsAreWhatPythonPrints()
    {
        using var temp = new TempDirectory();
        var coding = SyntheticExperiment.WriteDomains(temp.Path, Tiny, seed: 5)[1];
        var seen = new HashSet<string>();
        foreach (var row in ReadRows(coding.TrainPath).Concat(ReadRows(coding.EvalPath)))
        {
            var p = Program().Match(row.Prompt);
            Assert.True(p.Success, row.Prompt);
            string expression = p.Groups[3].Value;
            seen.Add(expression);
            string expected = p.Groups[1].Value == "s" ? RunOnString(Unquote(p.Groups[2].Value), expression) : RunOnList(ParseList(p.Groups[2].Value), expression);
            Assert.Equal(AnswerExtraction.Normalize(expected), AnswerExtraction.Extract(row.Reply));
        }
        Assert.Equal(11, seen.Count);
    }

    [Fact]
    public void UnitConversionsFollowOneFactTable()
    {
        using var temp = new TempDirectory();
        var science = SyntheticExperiment.WriteDomains(temp.Path, Tiny, seed: 5)[2];
        var factors = new Dictionary<(string, string), long>();
        foreach (var row in ReadRows(science.TrainPath).Concat(ReadRows(science.EvalPath)))
        {
            var q = UnitQuestion().Match(row.Prompt);
            var fact = UnitFactText().Match(row.Reply);
            Assert.True(q.Success && fact.Success, row.Prompt + " / " + row.Reply);
            string larger = fact.Groups[1].Value, smaller = fact.Groups[3].Value;
            long k = long.Parse(fact.Groups[2].Value, CultureInfo.InvariantCulture);
            Assert.InRange(k, 2, 9);
            // One factor per pair of units, whichever row states it.
            if (factors.TryGetValue((larger, smaller), out long known)) Assert.Equal(known, k);
            else factors[(larger, smaller)] = k;
            long amount = long.Parse(q.Groups[2].Value, CultureInfo.InvariantCulture);
            (string asked, string given) = (q.Groups[1].Value, q.Groups[3].Value);
            long expected = (asked, given) == (smaller, larger) ? amount * k
                : (asked, given) == (larger, smaller) ? amount / k
                : throw new Xunit.Sdk.XunitException($"the fact {fact.Value} is not about the units of {row.Prompt}");
            if ((asked, given) == (larger, smaller)) Assert.Equal(0, amount % k);
            Assert.Equal(expected.ToString(CultureInfo.InvariantCulture), AnswerExtraction.Extract(row.Reply));
        }
        Assert.Equal(Tiny.UnitFacts, factors.Count);
        Assert.Equal(2 * Tiny.UnitFacts, factors.Keys.SelectMany(p => new[] { p.Item1, p.Item2 }).Distinct().Count());
    }

    [Fact]
    public void GeneralMixtureAnswersAreRight()
    {
        var mixture = new GeneralMixture();
        var random = new Random(11);
        for (int i = 0; i < 500; i++)
        {
            var e = mixture.Next(random);
            string answer = AnswerExtraction.Extract(e.Reply);
            string expected = e.Prompt switch
            {
                var p when General("Repeat the word (\\w+)\\.", p) is { } m => m[1],
                var p when General("Count the marks: ([# ]+)", p) is { } m => m[1].Count(c => c == '#').ToString(CultureInfo.InvariantCulture),
                var p when General("Which number follows (\\d+)\\?", p) is { } m => (int.Parse(m[1], CultureInfo.InvariantCulture) + 1).ToString(CultureInfo.InvariantCulture),
                var p when General("Add (\\d) and (\\d)\\.", p) is { } m => (int.Parse(m[1], CultureInfo.InvariantCulture) + int.Parse(m[2], CultureInfo.InvariantCulture)).ToString(CultureInfo.InvariantCulture),
                var p when General("Multiply (\\d) by (\\d)\\.", p) is { } m => (int.Parse(m[1], CultureInfo.InvariantCulture) * int.Parse(m[2], CultureInfo.InvariantCulture)).ToString(CultureInfo.InvariantCulture),
                var p => throw new Xunit.Sdk.XunitException($"unexpected general prompt: {p}"),
            };
            Assert.Equal(expected, answer);
        }
    }

    [Fact]
    public void TooFewQuestionsForTheSplitIsAnError()
    {
        using var temp = new TempDirectory();
        // One fact: 9 quantities x 2 directions = 18 distinct questions, fewer than 20 held-out rows.
        var e = Assert.Throws<InvalidOperationException>(() => SyntheticExperiment.WriteDomains(temp.Path, Tiny with { UnitFacts = 1, EvalRows = 20 }, seed: 1));
        Assert.Contains("science", e.Message);
    }

    [Fact]
    public void SizesParseByName()
    {
        Assert.Same(ExperimentSize.Default, ExperimentSize.Parse("default"));
        Assert.Same(ExperimentSize.Small, ExperimentSize.Parse("small"));
        Assert.Contains("'large'", Assert.Throws<ArgumentException>(() => ExperimentSize.Parse("large")).Message);
    }

    private static long Digit(Group g) => long.Parse(g.Value, CultureInfo.InvariantCulture);

    private static long Pow10(int n) => (long)Math.Pow(10, n);

    private static string[]? General(string pattern, string prompt)
    {
        var m = Regex.Match(prompt, "^" + pattern + "$");
        return m.Success ? m.Groups.Cast<Group>().Select(g => g.Value).ToArray() : null;
    }

    private static string Unquote(string literal) => literal.Trim('"');

    private static long[] ParseList(string literal) =>
        literal.Trim('[', ']').Split(", ").Select(x => long.Parse(x, CultureInfo.InvariantCulture)).ToArray();

    private static string ListText(IEnumerable<long> xs) => "[" + string.Join(", ", xs) + "]";

    private static string RunOnString(string s, string expression) => expression switch
    {
        "s[::-1]" => string.Concat(s.Reverse()),
        "s[0]" => s[0].ToString(),
        "s[-1]" => s[^1].ToString(),
        "len(s)" => s.Length.ToString(CultureInfo.InvariantCulture),
        "s + s" => s + s,
        "\"\".join(sorted(s))" => string.Concat(s.OrderBy(c => c)),
        "s[1:3]" => s.Substring(1, Math.Min(2, s.Length - 1)),
        _ => throw new Xunit.Sdk.XunitException($"unknown string expression {expression}"),
    };

    private static string RunOnList(long[] xs, string expression) => expression switch
    {
        "sum(xs)" => xs.Sum().ToString(CultureInfo.InvariantCulture),
        "max(xs)" => xs.Max().ToString(CultureInfo.InvariantCulture),
        "min(xs)" => xs.Min().ToString(CultureInfo.InvariantCulture),
        "xs[::-1]" => ListText(xs.Reverse()),
        _ => throw new Xunit.Sdk.XunitException($"unknown list expression {expression}"),
    };

    [GeneratedRegex(@"^What is (\d+) \+ (\d+)\?$")]
    private static partial Regex MathQuestion();

    [GeneratedRegex(@"(\d)\+(\d)(?:\+(\d))?=(\d+)")]
    private static partial Regex MathStep();

    [GeneratedRegex("^What does this program print\\?\\n(s|xs) = (\"[a-z]+\"|\\[[0-9, ]+\\])\\nprint\\((.+)\\)$")]
    private static partial Regex Program();

    [GeneratedRegex(@"^How many ([a-z]+)s are in (\d+) ([a-z]+)s\?$")]
    private static partial Regex UnitQuestion();

    [GeneratedRegex(@"^1 ([a-z]+) = (\d) ([a-z]+)s, ")]
    private static partial Regex UnitFactText();
}
