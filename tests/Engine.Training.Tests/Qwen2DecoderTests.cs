namespace Engine.Training.Tests;

/// <summary>The native decoder against the full forward: a K/V-cached step computes the logits of recomputing the
/// whole prefix, batching and thread count change nothing, and bad calls are errors rather than crashes.</summary>
public sealed class Qwen2DecoderTests
{
    /// <summary>Prompts of different lengths (the fixture's own tokens, reused) and the tokens fed after them.</summary>
    private static int[][] Sequences(Qwen2Fixture f, int count, int length)
    {
        var random = new Random(7);
        return Enumerable.Range(0, count).Select(_ => Enumerable.Range(0, length).Select(_ => random.Next(f.Config.VocabSize)).ToArray()).ToArray();
    }

    /// <summary>The full forward's logits at the last token of <paramref name="prefix"/>.</summary>
    private static double[] LastLogits(Qwen2Model model, int[] prefix)
    {
        int v = model.Config.VocabSize;
        var all = new double[prefix.Length * v];
        model.Logits(PackedBatch.Single(prefix), all);
        return all[^v..];
    }

    [Theory]
    [InlineData("untied_gqa", ComputeDType.Float64)]
    [InlineData("tied_mqa", ComputeDType.Float64)]
    [InlineData("untied_gqa", ComputeDType.Float32)]
    [InlineData("tied_mqa", ComputeDType.Float32)]
    public void CachedStepsEqualRecomputingThePrefix(string caseName, ComputeDType dtype)
    {
        var f = Qwen2Fixture.Load(caseName);
        using var context = ComputeContext.CreateCpu(threads: 2);
        using var model = f.CreateModel(context, dtype);
        using var decoder = model.CreateDecoder(maxSequences: 1, maxTokens: 24);
        int v = f.Config.VocabSize;
        var tokens = Sequences(f, 1, 24)[0];
        const int prompt = 7;
        var logits = new double[v];
        var next = new int[1];
        // Relative to the logits' scale: float32 rounding only (1e-5), float64 summation order only.
        double rtol = dtype == ComputeDType.Float64 ? 1e-12 : 1e-5;
        for (int end = prompt; end <= tokens.Length; end++)
        {
            int start = end == prompt ? 0 : end - 1;
            decoder.Append(tokens.AsSpan(start, end - start), [end - start], next, logits);
            var expected = LastLogits(model, tokens[..end]);
            double scale = expected.Max(Math.Abs);
            new Tolerance(rtol * scale, 0).AssertClose($"{caseName}/{dtype} logits after {end} tokens", expected, logits);
            Assert.Equal(Array.IndexOf(expected, expected.Max()), next[0]);
        }
        Assert.Equal(tokens.Length, decoder.Length(0));
    }

    [Theory]
    [InlineData("untied_gqa")]
    [InlineData("tied_mqa")]
    public void BatchedSequencesEqualOneByOneBitForBit(string caseName)
    {
        var f = Qwen2Fixture.Load(caseName);
        using var context = ComputeContext.CreateCpu(threads: 2);
        using var model = f.CreateModel(context, ComputeDType.Float32);
        int[] promptLengths = [5, 1, 9];
        var sequences = Sequences(f, promptLengths.Length, 16);
        var batched = Decode(model, sequences, promptLengths);
        for (int s = 0; s < sequences.Length; s++)
        {
            var alone = Decode(model, [sequences[s]], [promptLengths[s]]);
            Assert.Equal(alone[0], batched[s]);
        }
    }

    [Fact]
    public void ThreadCountChangesNoBit()
    {
        var f = Qwen2Fixture.Load("untied_gqa");
        int[] promptLengths = [4, 11];
        var sequences = Sequences(f, 2, 14);
        float[][] Run(int threads)
        {
            using var context = ComputeContext.CreateCpu(threads);
            using var model = f.CreateModel(context, ComputeDType.Float32);
            return Decode(model, sequences, promptLengths);
        }
        var one = Run(1);
        var three = Run(3);
        for (int s = 0; s < one.Length; s++) Assert.Equal(one[s], three[s]);
    }

    /// <summary>Prefills every prompt in one append, then feeds each sequence's own remaining tokens one per step (a
    /// sequence whose tokens ran out sits the step out); returns each sequence's logits of every append, concatenated.</summary>
    private static float[][] Decode(Qwen2Model model, int[][] sequences, int[] promptLengths)
    {
        int v = model.Config.VocabSize, n = sequences.Length;
        using var decoder = model.CreateDecoder(n, sequences.Max(s => s.Length));
        var outputs = Enumerable.Range(0, n).Select(_ => new List<float>()).ToArray();
        var logits = new float[n * v];
        var next = new int[n];
        var counts = promptLengths.ToArray();
        var tokens = sequences.SelectMany((s, i) => s[..promptLengths[i]]).ToArray();
        var fed = promptLengths.ToArray();
        while (counts.Any(c => c > 0))
        {
            decoder.Append(tokens, counts, next, logits);
            var step = new List<int>();
            for (int s = 0; s < n; s++)
            {
                if (counts[s] > 0) outputs[s].AddRange(logits.AsSpan(s * v, v).ToArray());
                else Assert.Equal(-1, next[s]);
                counts[s] = fed[s] < sequences[s].Length ? 1 : 0;
                if (counts[s] == 1) step.Add(sequences[s][fed[s]++]);
            }
            tokens = step.ToArray();
        }
        return outputs.Select(o => o.ToArray()).ToArray();
    }

    [Fact]
    public void LogitsAgreeWithTheLossOfTheSameForward()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var context = ComputeContext.CreateCpu(threads: 2);
        using var model = f.CreateModel(context, ComputeDType.Float64);
        var batch = f.Batch;
        int v = f.Config.VocabSize, n = batch.Tokens.Length;
        var loss = model.Forward(batch);
        var logits = new double[n * v];
        model.Logits(batch, logits);
        int start = 0;
        double sum = 0;
        foreach (int length in batch.DocumentLengths)
        {
            for (int t = start; t + 1 < start + length; t++)
            {
                if (batch.Labels[t + 1] == PackedBatch.IgnoreIndex) continue;
                var row = logits.AsSpan(t * v, v);
                double max = double.NegativeInfinity, exp = 0;
                foreach (double x in row) max = Math.Max(max, x);
                foreach (double x in row) exp += Math.Exp(x - max);
                sum += max + Math.Log(exp) - row[batch.Labels[t + 1]];
            }
            start += length;
        }
        // The token losses come back as float32; their float64 sum does not.
        Tolerance.Float64.AssertClose("loss sum from logits", loss.Sum, sum);
    }

    [Fact]
    public void BadAppendsAreErrorsNamingTheLimit()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var context = ComputeContext.CreateCpu(threads: 1);
        using var model = f.CreateModel(context, ComputeDType.Float32);
        using var decoder = model.CreateDecoder(maxSequences: 2, maxTokens: 4);
        var next = new int[2];
        var full = Assert.Throws<NativeTrainerException>(() => decoder.Append([1, 2, 3, 4, 5], [5, 0], next));
        Assert.Contains("would pass max_tokens 4", full.Message);
        var vocab = Assert.Throws<NativeTrainerException>(() => decoder.Append([f.Config.VocabSize], [1, 0], next));
        Assert.Contains("outside the vocabulary", vocab.Message);
        var many = Assert.Throws<NativeTrainerException>(() => decoder.Append([1, 1, 1], [1, 1, 1], new int[3]));
        Assert.Contains("max_sequences", many.Message);
        Assert.Equal(0, decoder.Length(0));
        decoder.Append([1, 2, 3, 4], [4, 0], next);
        decoder.Reset();
        Assert.Equal(0, decoder.Length(0));
        Assert.Throws<NativeTrainerException>(() => model.CreateDecoder(0, 4));
    }
}
