using Engine.Training.Evaluation;

namespace Engine.Training.Tests;

/// <summary>The documented answer rule: last balanced \boxed{}, else after the last "Answer:", else everything;
/// normalised. And the bootstrap interval: seeded, containing the statistic, degenerate when every row agrees.</summary>
public sealed class AnswerExtractionTests
{
    [Theory]
    [InlineData("so x = \\boxed{42}.", "42")]
    [InlineData("\\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}")]
    [InlineData("\\boxed{7} and a cut-off \\boxed{\\frac{1}{", "7")]
    [InlineData("Work...\nAnswer: 12 apples. Then answer:  Paris. ", "paris")]
    [InlineData("Answer: \\boxed{ 3 }", "3")]
    [InlineData("  The  Quick\n\tBrown FOX. ", "the quick brown fox")]
    [InlineData("", "")]
    [InlineData("\\boxed{}", "")]
    public void ExtractsAndNormalises(string text, string expected) => Assert.Equal(expected, AnswerExtraction.Extract(text));

    [Fact]
    public void BootstrapIsSeededAndBracketsTheMean()
    {
        var values = Enumerable.Range(0, 40).Select(i => i % 3 == 0 ? 1.0 : 0.0).ToList();
        var weights = values.Select(_ => 1.0).ToList();
        var a = BootstrapInterval.OfRatio(values, weights);
        var b = BootstrapInterval.OfRatio(values, weights);
        Assert.Equal(a, b);
        double mean = values.Average();
        Assert.True(a.Low < mean && mean < a.High, $"{a} does not bracket {mean}");
        // Loss-like rows (sums over token counts) make the statistic continuous: another seed, another interval.
        var sums = Enumerable.Range(1, 40).Select(i => i * 0.37 % 1.7).ToList();
        var tokens = Enumerable.Range(1, 40).Select(i => (double)(1 + i % 7)).ToList();
        Assert.NotEqual(BootstrapInterval.OfRatio(sums, tokens), BootstrapInterval.OfRatio(sums, tokens, seed: 5));
        Assert.Equal(new Interval(1, 1), BootstrapInterval.OfRatio([1.0, 1.0, 1.0], [1.0, 1.0, 1.0]));
    }
}
