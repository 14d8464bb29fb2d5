namespace Engine.Training.Synthetic;

/// <summary>Draws a domain's held-out and training rows from one seeded stream. The eval split comes first: its
/// prompts are distinct. Training rows are drawn after it, skipping any prompt the eval split holds (repeats among
/// training rows are allowed, as in any sampled corpus), so no held-out question is ever trained on.</summary>
internal static class SplitSampler
{
    /// <summary>Draws per row at most this many candidates before concluding the domain has too few questions.</summary>
    private const int AttemptsPerRow = 1000;

    public static (IReadOnlyList<SyntheticExample> Train, IReadOnlyList<SyntheticExample> Eval) Draw(IExampleGenerator generator, Random random,
        int trainRows, int evalRows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(trainRows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(evalRows, 1);
        var held = new HashSet<string>(StringComparer.Ordinal);
        var eval = new List<SyntheticExample>(evalRows);
        var train = new List<SyntheticExample>(trainRows);
        long attempts = 0, limit = (long)AttemptsPerRow * (trainRows + evalRows);
        while (eval.Count < evalRows || train.Count < trainRows)
        {
            if (++attempts > limit)
                throw new InvalidOperationException($"{generator.Name}: too few distinct questions for {evalRows} held-out and {trainRows} training rows");
            var e = generator.Next(random);
            if (eval.Count < evalRows)
            {
                if (held.Add(e.Prompt)) eval.Add(e);
            }
            else if (!held.Contains(e.Prompt))
            {
                train.Add(e);
            }
        }
        return (train, eval);
    }
}
