namespace Engine.Training.Tests;

/// <summary>Properties of the native trainer that need no reference: packed documents equal separate runs,
/// micro-batch accumulation equals one batch, thread count and classifier chunking change nothing.</summary>
public sealed class Qwen2PackingTests
{
    private static PackedBatch Slice(Qwen2Fixture f, int firstDoc, int docCount)
    {
        int start = f.DocumentLengths.Take(firstDoc).Sum();
        var lengths = f.DocumentLengths.Skip(firstDoc).Take(docCount).ToArray();
        int n = lengths.Sum();
        return new PackedBatch(f.Tokens[start..(start + n)], f.Labels[start..(start + n)], lengths);
    }

    private static double[] AllGradients(Qwen2Model model)
    {
        var g = new double[model.ParameterCount];
        model.ReadGradients(g, 0);
        return g;
    }

    private static double[] AllParameters(Qwen2Model model)
    {
        var p = new double[model.ParameterCount];
        model.ReadParameters(p, 0);
        return p;
    }

    [Theory]
    [InlineData("untied_gqa")]
    [InlineData("tied_mqa")]
    public void PackedDocumentsEqualSeparateRuns(string caseName)
    {
        var f = Qwen2Fixture.Load(caseName);
        using var context = ComputeContext.CreateCpu(threads: 2);
        using var packed = f.CreateModel(context, ComputeDType.Float64);
        using var separate = f.CreateModel(context, ComputeDType.Float64);
        var batch = f.Batch;
        double scale = 1.0 / batch.ScoredTokens;
        var packedLosses = new float[batch.Tokens.Length];
        var packedLoss = packed.ForwardBackward(batch, scale, packedLosses);

        double sum = 0;
        int offset = 0;
        for (int d = 0; d < f.DocumentLengths.Length; d++)
        {
            var doc = Slice(f, d, 1);
            var losses = new float[doc.Tokens.Length];
            sum += separate.ForwardBackward(doc, scale, losses).Sum;
            for (int t = 0; t < losses.Length; t++)
                Assert.True(losses[t] == packedLosses[offset + t], $"{caseName}: doc {d} token {t}: alone {losses[t]:R}, packed {packedLosses[offset + t]:R}");
            offset += doc.Tokens.Length;
        }
        Tolerance.Float64.AssertClose($"{caseName}/loss_sum", packedLoss.Sum, sum);
        Tolerance.Float64.AssertClose($"{caseName}/grads", AllGradients(packed), AllGradients(separate));
    }

    [Theory]
    [InlineData("untied_gqa", ComputeDType.Float64)]
    [InlineData("untied_gqa", ComputeDType.Float32)]
    [InlineData("tied_mqa", ComputeDType.Float64)]
    public void MicroBatchAccumulationEqualsOneBatch(string caseName, ComputeDType dtype)
    {
        var f = Qwen2Fixture.Load(caseName);
        using var context = ComputeContext.CreateCpu(threads: 2);
        using var whole = f.CreateModel(context, dtype);
        using var accumulated = f.CreateModel(context, dtype);
        var batch = f.Batch;
        double scale = 1.0 / batch.ScoredTokens;
        var tolerance = dtype == ComputeDType.Float64 ? Tolerance.Float64 : new Tolerance(1e-6, 1e-5);

        for (int step = 1; step <= 2; step++)
        {
            whole.ZeroGradients();
            accumulated.ZeroGradients();
            var one = whole.ForwardBackward(batch, scale);
            // Micro-batches: the first document, then the rest.
            var first = accumulated.ForwardBackward(Slice(f, 0, 1), scale);
            var rest = accumulated.ForwardBackward(Slice(f, 1, f.DocumentLengths.Length - 1), scale);
            Assert.Equal(one.ScoredTokens, first.ScoredTokens + rest.ScoredTokens);
            tolerance.AssertClose($"{caseName}/{dtype}/step{step}/loss", one.Mean, (first.Sum + rest.Sum) * scale);
            tolerance.AssertClose($"{caseName}/{dtype}/step{step}/grads", AllGradients(whole), AllGradients(accumulated));
            tolerance.AssertClose($"{caseName}/{dtype}/step{step}/grad_norm", whole.AdamWStep(f.AdamW, step), accumulated.AdamWStep(f.AdamW, step));
            tolerance.AssertClose($"{caseName}/{dtype}/step{step}/params", AllParameters(whole), AllParameters(accumulated));
        }
    }

    [Fact]
    public void ThreadCountDoesNotChangeFloat32Results()
    {
        var f = Qwen2Fixture.Load("untied_gqa");
        using var one = ComputeContext.CreateCpu(threads: 1);
        using var two = ComputeContext.CreateCpu(threads: 2);
        using var a = f.CreateModel(one, ComputeDType.Float32);
        using var b = f.CreateModel(two, ComputeDType.Float32);
        for (int step = 1; step <= 3; step++)
        {
            a.ZeroGradients();
            b.ZeroGradients();
            Assert.Equal(a.ForwardBackward(f.Batch, 0.05).Sum, b.ForwardBackward(f.Batch, 0.05).Sum);
            Assert.Equal(AllGradients(a), AllGradients(b));
            Assert.Equal(a.AdamWStep(f.AdamW, step), b.AdamWStep(f.AdamW, step));
        }
        Assert.Equal(AllParameters(a), AllParameters(b));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(1000)]
    public void ClassifierChunkSizeChangesNothing(int chunk)
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var context = ComputeContext.CreateCpu(threads: 2);
        using var reference = f.CreateModel(context, ComputeDType.Float64, lossChunkTokens: 7);
        using var chunked = f.CreateModel(context, ComputeDType.Float64, lossChunkTokens: chunk);
        double scale = 1.0 / f.Batch.ScoredTokens;
        Tolerance.Float64.AssertClose($"chunk {chunk}/loss", reference.ForwardBackward(f.Batch, scale).Sum, chunked.ForwardBackward(f.Batch, scale).Sum);
        Tolerance.Float64.AssertClose($"chunk {chunk}/grads", AllGradients(reference), AllGradients(chunked));
    }
}
