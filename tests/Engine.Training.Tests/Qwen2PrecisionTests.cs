namespace Engine.Training.Tests;

/// <summary>Float32 compute against the float64 path (itself checked against the PyTorch reference) on a model
/// wide enough that every vectorised tile of the matrix kernels runs, not only their remainder loops.</summary>
public sealed class Qwen2PrecisionTests
{
    [Fact]
    public void Float32MatchesFloat64OnWiderModel()
    {
        var config = new Qwen2Config(vocabSize: 131, hiddenSize: 96, intermediateSize: 160, numLayers: 2, numHeads: 6,
            numKeyValueHeads: 2, tieWordEmbeddings: false, rmsNormEps: 1e-6, ropeTheta: 10000);
        const int seed = 7;
        var random = new Random(seed);
        using var context = ComputeContext.CreateCpu(threads: 2);
        using var f32 = Qwen2Model.Create(context, config, ComputeDType.Float32, lossChunkTokens: 16);
        using var f64 = Qwen2Model.Create(context, config, ComputeDType.Float64, lossChunkTokens: 16);
        foreach (var p in f32.Parameters)
        {
            bool norm = p.Name.EndsWith("norm.weight", StringComparison.Ordinal);
            var values = Enumerable.Range(0, (int)p.Count)
                .Select(_ => norm ? 1f + 0.1f * (float)(random.NextDouble() - 0.5) : 0.15f * (float)(random.NextDouble() * 2 - 1)).ToArray();
            f32.WriteParameters(values, p.Offset);
            f64.WriteParameters(values, p.Offset);
        }
        int[] docs = [37, 50, 13];
        var tokens = Enumerable.Range(0, docs.Sum()).Select(_ => random.Next(config.VocabSize)).ToArray();
        var batch = new PackedBatch(tokens, tokens, docs);
        double scale = 1.0 / batch.ScoredTokens;

        var a = f32.ForwardBackward(batch, scale);
        var b = f64.ForwardBackward(batch, scale);

        var tolerance = new Tolerance(2e-6, 1e-4);
        tolerance.AssertClose($"wider/loss (seed {seed})", b.Mean, a.Mean);
        foreach (var p in f64.Parameters)
            tolerance.AssertClose($"wider/grad/{p.Name} (seed {seed})", f64.ReadGradients(p.Name), f32.ReadGradients(p.Name));
    }
}
