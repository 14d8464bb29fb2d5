using Engine.Training.Data;
using Engine.Training.Sft;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace Engine.Training.Tests;

/// <summary>Examples of the given lengths (some longer than <see cref="SeqLen"/>, some empty) to pack.</summary>
public sealed record PackingCase(int SeqLen, int[] Lengths)
{
    public override string ToString() => $"seq_len {SeqLen}, lengths [{string.Join(", ", Lengths)}]";

    /// <summary>Example i's token j is <c>1000 i + j</c> and its label the negated token, so every token says
    /// where it came from.</summary>
    public List<TokenizedExample> Examples() =>
        Lengths.Select((n, i) => new TokenizedExample(i + 1, Enumerable.Range(0, n).Select(j => 1000 * i + j).ToArray(),
            Enumerable.Range(0, n).Select(j => -(1000 * i + j)).ToArray())).ToList();
}

public static class PackingArbitraries
{
    public static Arbitrary<PackingCase> Cases()
    {
        var gen =
            from seqLen in Gen.Choose(1, 40)
            from count in Gen.Choose(0, 60)
            from lengths in Gen.ArrayOf(Gen.Frequency((1, Gen.Choose(0, seqLen + 8)), (4, Gen.Choose(1, Math.Max(1, seqLen / 2)))), count)
            select new PackingCase(seqLen, lengths);
        return gen.ToArbitrary();
    }
}

/// <summary>Packing: every example exactly once, whole (up to seq_len) and as its own document; no sequence over
/// seq_len; neat never needs more sequences than greedy; the same input packs the same way every time.</summary>
public sealed class SequencePackerTests
{
    [Property(Arbitrary = [typeof(PackingArbitraries)], MaxTest = 300)]
    public void EveryExampleAppearsOnceWholeAndWithinSeqLen(PackingCase c)
    {
        foreach (var mode in Enum.GetValues<PackingMode>())
        {
            var sequences = SequencePacker.Pack(c.Examples(), c.SeqLen, mode);
            var seen = new List<int>();
            foreach (var s in sequences)
            {
                Assert.True(s.Tokens.Length <= c.SeqLen, $"{mode}: a sequence of {s.Tokens.Length} tokens; {c}");
                Assert.Equal(s.Tokens.Length, s.DocumentLengths.Sum());
                Assert.Equal(s.Tokens.Length, s.Labels.Length);
                int at = 0;
                foreach (int n in s.DocumentLengths)
                {
                    // An empty example is an empty document: find it by elimination below.
                    if (n > 0)
                    {
                        int example = s.Tokens[at] / 1000;
                        Assert.Equal(Math.Min(c.SeqLen, c.Lengths[example]), n);
                        Assert.Equal(Enumerable.Range(0, n).Select(j => 1000 * example + j), s.Tokens[at..(at + n)]);
                        Assert.Equal(Enumerable.Range(0, n).Select(j => -(1000 * example + j)), s.Labels[at..(at + n)]);
                        seen.Add(example);
                    }
                    at += n;
                }
            }
            var empty = Enumerable.Range(0, c.Lengths.Length).Where(i => c.Lengths[i] == 0).ToList();
            Assert.Equal(empty.Count, sequences.Sum(s => s.DocumentLengths.Count(n => n == 0)));
            Assert.Equal(Enumerable.Range(0, c.Lengths.Length).Except(empty), seen.Order());
        }
    }

    [Property(Arbitrary = [typeof(PackingArbitraries)], MaxTest = 300)]
    public void NeatNeverNeedsMoreSequencesThanGreedy(PackingCase c)
    {
        var truncated = c.Lengths.Select(n => Math.Min(n, c.SeqLen)).ToArray();
        int neat = SequencePacker.Group(truncated, c.SeqLen, PackingMode.Neat).Count;
        int greedy = SequencePacker.Group(truncated, c.SeqLen, PackingMode.Greedy).Count;
        Assert.True(neat <= greedy, $"neat {neat} > greedy {greedy}: {c}");
        // Neither can beat the token count's lower bound.
        Assert.True(neat >= (truncated.Sum() + c.SeqLen - 1) / c.SeqLen, c.ToString());
    }

    [Property(Arbitrary = [typeof(PackingArbitraries)], MaxTest = 100)]
    public void PackingIsDeterministic(PackingCase c)
    {
        foreach (var mode in Enum.GetValues<PackingMode>())
        {
            var a = SequencePacker.Group(c.Lengths.Select(n => Math.Min(n, c.SeqLen)).ToArray(), c.SeqLen, mode);
            var b = SequencePacker.Group(c.Lengths.Select(n => Math.Min(n, c.SeqLen)).ToArray(), c.SeqLen, mode);
            Assert.Equal(a, b);
        }
    }

    [Fact]
    public void NeatPacksLongestFirstIntoTheTightestSequence()
    {
        // seq_len 7. File order: [4], [4, 3], [3]; longest first: 4 and 4 open two sequences, each 3 fills one.
        Assert.Equal(3, SequencePacker.Group([4, 4, 3, 3], 7, PackingMode.Greedy).Count);
        Assert.Equal([[0, 2], [1, 3]], SequencePacker.Group([4, 4, 3, 3], 7, PackingMode.Neat));
        // 5, 5, 4, 4 open four sequences (room 2, 2, 3, 3); 3 takes the first with room 3, 2 the first with
        // room 2, and 1 the second with room 2 (tighter than room 3).
        Assert.Equal([[0, 3], [4, 6], [1, 2], [5]], SequencePacker.Group([5, 4, 3, 2, 5, 4, 1], 7, PackingMode.Neat));
    }

    [Fact]
    public void NeatKeepsFileOrderWhenThatPacksTighter()
    {
        // Best fit decreasing is not optimal: 3, 3 | 2, 2, 2 | 2 into 7 is three sequences, file order two.
        int[] lengths = [3, 2, 2, 3, 2, 2];
        var neat = SequencePacker.Group(lengths, 7, PackingMode.Neat);
        Assert.Equal([[0, 1, 2], [3, 4, 5]], neat);
    }

    [Fact]
    public void NeatBreaksTiesByFileOrder()
    {
        var neat = SequencePacker.Group([2, 3, 3, 2], 5, PackingMode.Neat);
        Assert.Equal([[1, 0], [2, 3]], neat);
    }

    [Fact]
    public void TruncationCountsCutExamplesAndThoseLeftWithoutAScoredToken()
    {
        const int I = PackedBatch.IgnoreIndex;
        TokenizedExample Example(int[] labels) => new(1, Enumerable.Range(0, labels.Length).ToArray(), labels);
        var examples = new[]
        {
            Example([I, 5, 6]),             // fits
            Example([I, I, I, I, 7, 8]),    // cut to 4: labels 1..3 all ignored
            Example([I, 9, I, I, I, I]),    // cut to 4: label 1 still scored
            Example([I, I, I, 3, I]),       // cut to 4: label 3 is the last one kept
        };
        Assert.Equal((3, 1), SequencePacker.Truncation(examples, 4));
        Assert.Equal((0, 0), SequencePacker.Truncation(examples, 6));
    }
}
