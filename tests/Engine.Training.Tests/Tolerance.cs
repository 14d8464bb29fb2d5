namespace Engine.Training.Tests;

/// <summary>Per-element parity: |actual - expected| &lt;= atol + |expected| * eps, failing with the tensor name,
/// index, expected and actual of the worst element.</summary>
public sealed record Tolerance(double Atol, double Eps)
{
    /// <summary>Float32 compute against a float64 reference.</summary>
    public static readonly Tolerance Float32 = new(2e-5, 2e-4);

    /// <summary>Float64 compute against a float64 reference (different summation orders only).</summary>
    public static readonly Tolerance Float64 = new(1e-11, 1e-9);

    public static Tolerance For(ComputeDType dtype) => dtype == ComputeDType.Float64 ? Float64 : Float32;

    public void AssertClose(string name, ReadOnlySpan<double> expected, ReadOnlySpan<double> actual)
    {
        Assert.True(expected.Length == actual.Length, $"{name}: expected {expected.Length} values, got {actual.Length}");
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double diff = Math.Abs(actual[i] - expected[i]);
            double allowed = Atol + Math.Abs(expected[i]) * Eps;
            if (!(diff <= allowed) && (worst < 0 || diff - allowed > worstExcess || double.IsNaN(diff)))
            {
                worst = i;
                worstExcess = double.IsNaN(diff) ? double.PositiveInfinity : diff - allowed;
            }
        }
        if (worst >= 0)
            Assert.Fail($"{name}[{worst}]: expected {expected[worst]:R}, actual {actual[worst]:R} (|diff| {Math.Abs(actual[worst] - expected[worst]):E3} > atol {Atol:E1} + |ref| * {Eps:E1})");
    }

    public void AssertClose(string name, double expected, double actual) => AssertClose(name, [expected], [actual]);
}
