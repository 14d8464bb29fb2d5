namespace Engine.Training.Evaluation;

/// <summary>A confidence interval.</summary>
public readonly record struct Interval(double Low, double High);

/// <summary>Percentile bootstrap of a ratio over rows: the statistic is <c>sum(values) / sum(weights)</c> (accuracy:
/// values 0/1 and weights 1; mean token loss: each row's loss sum and its token count). Each of
/// <c>resamples</c> (R) resamples draws n rows with replacement from <c>new Random(seed)</c>; the interval is
/// the resample statistics of rank <c>floor(p * (R - 1))</c> for p = (1 - confidence) / 2 and 1 - p (the rank rule
/// of our exact quantiles). Seeded, so the same rows always give the same interval.</summary>
public static class BootstrapInterval
{
    /// <summary>R, the resamples when none is given.</summary>
    public const int DefaultResamples = 1000;
    /// <summary>The seed when none is given, fixed so reports repeat.</summary>
    public const int DefaultSeed = 20250101;

    /// <summary>The statistic <c>Σ values / Σ weights</c> over every row, with its percentile interval at <paramref name="confidence"/>.</summary>
    /// <exception cref="ArgumentException">The lists differ in length or are empty.</exception>
    public static Interval OfRatio(IReadOnlyList<double> values, IReadOnlyList<double> weights, double confidence = 0.95,
        int resamples = DefaultResamples, int seed = DefaultSeed)
    {
        if (values.Count != weights.Count) throw new ArgumentException($"{values.Count} values for {weights.Count} weights");
        if (values.Count == 0) throw new ArgumentException("a bootstrap needs at least one row");
        if (weights.Any(w => !(w > 0))) throw new ArgumentException("every weight must be positive");
        ArgumentOutOfRangeException.ThrowIfLessThan(resamples, 1);
        if (!(confidence > 0 && confidence < 1)) throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "must be in (0, 1)");
        var random = new Random(seed);
        int n = values.Count;
        var statistics = new double[resamples];
        for (int r = 0; r < resamples; r++)
        {
            double value = 0, weight = 0;
            for (int i = 0; i < n; i++)
            {
                int row = random.Next(n);
                value += values[row];
                weight += weights[row];
            }
            statistics[r] = value / weight;
        }
        Array.Sort(statistics);
        double tail = (1 - confidence) / 2;
        return new Interval(statistics[(int)Math.Floor(tail * (resamples - 1))], statistics[(int)Math.Floor((1 - tail) * (resamples - 1))]);
    }
}
