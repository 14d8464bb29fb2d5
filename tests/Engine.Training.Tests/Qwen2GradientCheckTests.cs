namespace Engine.Training.Tests;

/// <summary>Finite differences in float64: for entries of every kind of tensor, the central difference of
/// the mean loss equals the analytic gradient. Independent of the PyTorch reference.</summary>
public sealed class Qwen2GradientCheckTests
{
    [Theory]
    [InlineData("untied_gqa")]
    [InlineData("tied_mqa")]
    public void CentralDifferencesMatchBackward(string caseName)
    {
        var fixture = Qwen2Fixture.Load(caseName);
        using var context = ComputeContext.CreateCpu(threads: 2);
        using var model = fixture.CreateModel(context, ComputeDType.Float64);
        var batch = fixture.Batch;
        double scale = 1.0 / batch.ScoredTokens;
        model.ForwardBackward(batch, scale);
        var random = new Random(20261123);
        const double h = 1e-5;
        int checkedEntries = 0;

        foreach (var p in model.Parameters.Where(p => !p.Name.Contains(".layers.1.")))
        {
            var grads = model.ReadGradients(p.Name);
            // Two entries per tensor: the one with the largest gradient and a random one.
            int largest = Enumerable.Range(0, grads.Length).MaxBy(i => Math.Abs(grads[i]));
            foreach (int i in new[] { largest, random.Next(grads.Length) })
            {
                var value = new double[1];
                model.ReadParameters(value, p.Offset + i);
                model.WriteParameters(new[] { value[0] + h }, p.Offset + i);
                double up = model.Forward(batch).Sum * scale;
                model.WriteParameters(new[] { value[0] - h }, p.Offset + i);
                double down = model.Forward(batch).Sum * scale;
                model.WriteParameters(value, p.Offset + i);
                double numeric = (up - down) / (2 * h);
                new Tolerance(1e-8, 1e-6).AssertClose($"{caseName}/fd/{p.Name}[{i}] (seed 20261123)", numeric, grads[i]);
                checkedEntries++;
            }
        }
        Assert.True(checkedEntries >= 2 * 13, $"only {checkedEntries} entries checked");
        Assert.Contains(model.Parameters, p => p.Name.EndsWith("self_attn.k_proj.bias", StringComparison.Ordinal));
    }
}
