namespace Engine.Training.Tests;

/// <summary>Parameters plus AdamW moments are the whole training state: restoring them into a fresh model and
/// continuing gives bit-identical results to an uninterrupted run.</summary>
public sealed class Qwen2ResumeTests
{
    [Theory]
    [InlineData("untied_gqa", ComputeDType.Float32)]
    [InlineData("tied_mqa", ComputeDType.Float32)]
    [InlineData("tied_mqa", ComputeDType.Float64)]
    public void ResumeFromSavedStateIsBitIdentical(string caseName, ComputeDType dtype)
    {
        var f = Qwen2Fixture.Load(caseName);
        var batch = f.Batch;
        double scale = 1.0 / batch.ScoredTokens;
        using var context = ComputeContext.CreateCpu(threads: 2);

        double Step(Qwen2Model model, int step)
        {
            model.ZeroGradients();
            double loss = model.ForwardBackward(batch, scale).Mean;
            model.AdamWStep(f.AdamW, step);
            return loss;
        }

        using var straight = f.CreateModel(context, dtype);
        var straightLosses = Enumerable.Range(1, 5).Select(s => Step(straight, s)).ToArray();

        using var first = f.CreateModel(context, dtype);
        var resumedLosses = Enumerable.Range(1, 2).Select(s => Step(first, s)).ToList();
        var buffers = new[] { ModelBuffer.Parameters, ModelBuffer.AdamFirstMoment, ModelBuffer.AdamSecondMoment };
        var saved = buffers.Select(b =>
        {
            var values = new double[first.ParameterCount];
            first.ReadBuffer(b, values, 0);
            return values;
        }).ToArray();

        using var second = Qwen2Model.Create(context, f.Config, dtype, lossChunkTokens: 5);
        for (int i = 0; i < buffers.Length; i++) second.WriteBuffer(buffers[i], saved[i], 0);
        resumedLosses.AddRange(Enumerable.Range(3, 3).Select(s => Step(second, s)));

        Assert.Equal(straightLosses, resumedLosses);
        var a = new double[straight.ParameterCount];
        var b = new double[second.ParameterCount];
        foreach (var buffer in buffers)
        {
            straight.ReadBuffer(buffer, a, 0);
            second.ReadBuffer(buffer, b, 0);
            Assert.Equal(a, b);
        }
    }
}
