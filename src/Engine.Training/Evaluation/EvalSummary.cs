namespace Engine.Training.Evaluation;

/// <summary>What an evaluation scores.</summary>
public enum EvalMetric
{
    /// <summary>Accuracy of greedy generations' extracted answers (<see cref="ExactMatchEvaluator"/>).</summary>
    ExactMatch,

    /// <summary>Mean token loss on the assistant turns (<see cref="LossEvaluator"/>).</summary>
    Loss,
}

/// <summary>What an evaluation run measured: the metric's value over <see cref="Count"/> rows with its 95% bootstrap
/// interval (<see cref="BootstrapInterval"/>), and the throughput: for exact match the tokens the decoder produced,
/// for loss the tokens run through the forward, per second of wall time.</summary>
public sealed record EvalSummary(EvalMetric Metric, int Count, double Value, Interval Interval, long Tokens, double Seconds)
{
    /// <summary><c>Tokens / Seconds</c> (0 when no time was measured).</summary>
    public double TokensPerSecond => Seconds > 0 ? Tokens / Seconds : 0;

    /// <summary>The summary of rows scored as <c>values[i] / weights[i]</c> (see <see cref="BootstrapInterval.OfRatio"/>).</summary>
    public static EvalSummary Of(EvalMetric metric, IReadOnlyList<double> values, IReadOnlyList<double> weights, long tokens, double seconds) =>
        new(metric, values.Count, values.Sum() / weights.Sum(), BootstrapInterval.OfRatio(values, weights), tokens, seconds);
}
