namespace Engine.Training.Evaluation;

/// <summary>How <see cref="GreedyGenerator"/> runs: at most <see cref="MaxNewTokens"/> tokens per prompt,
/// <see cref="BatchSize"/> prompts decoded together, and the tokens that end a reply (EOS, end of turn).</summary>
public sealed record GenerationOptions
{
    /// <summary>Checked options.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="maxNewTokens"/> or <paramref name="batchSize"/> is below 1.</exception>
    public GenerationOptions(int maxNewTokens, int batchSize, IEnumerable<int> stopTokens)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxNewTokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        MaxNewTokens = maxNewTokens;
        BatchSize = batchSize;
        StopTokens = stopTokens.ToHashSet();
    }

    /// <summary>The most tokens generated per prompt, the stop token included.</summary>
    public int MaxNewTokens { get; }
    /// <summary>Prompts decoded together.</summary>
    public int BatchSize { get; }
    /// <summary>Token ids that end a reply.</summary>
    public IReadOnlySet<int> StopTokens { get; }
}

/// <summary>Why a generation ended.</summary>
public enum StopReason
{
    /// <summary>The model produced one of the stop tokens.</summary>
    StopToken,

    /// <summary>The reply reached <see cref="GenerationOptions.MaxNewTokens"/> without one.</summary>
    MaxNewTokens,
}

/// <summary>The continuation of prompt <see cref="Index"/>: the generated tokens, without the stop token that ended them.</summary>
public sealed record Generation(int Index, int[] Tokens, StopReason Stop)
{
    /// <summary>Tokens the model produced, the stop token included: the work the decoder did for this prompt.</summary>
    public int Produced => Tokens.Length + (Stop == StopReason.StopToken ? 1 : 0);
}

/// <summary>Greedy decoding on the native decoder: prompts go in groups of <see cref="GenerationOptions.BatchSize"/>,
/// each group's prompts are appended at once (prefill), then every unfinished sequence takes its argmax token, one
/// step at a time, until a stop token or the token limit. Sequences never affect each other in the decoder, so a
/// prompt's continuation does not depend on the batch size or on the other prompts.</summary>
public static class GreedyGenerator
{
    /// <summary>Decodes each of <paramref name="prompts"/> greedily on <paramref name="model"/>, yielding the generations in prompt
    /// order as each batch finishes.</summary>
    /// <exception cref="NativeTrainerException">A prompt holds a token id outside the vocabulary, or the native decoder fails.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled.</exception>
    public static IEnumerable<Generation> Generate(Qwen2Model model, IReadOnlyList<int[]> prompts, GenerationOptions options,
        CancellationToken cancellation = default)
    {
        if (prompts.Count == 0) yield break;
        foreach (var (p, i) in prompts.Select((p, i) => (p, i)))
            if (p.Length == 0) throw new ArgumentException($"prompt {i} is empty: decoding needs at least one token");
        int groupSize = Math.Min(options.BatchSize, prompts.Count);
        // The last generated token is never fed back, so prompt + MaxNewTokens bounds every sequence.
        using var decoder = model.CreateDecoder(groupSize, checked(prompts.Max(p => p.Length) + options.MaxNewTokens));
        for (int first = 0; first < prompts.Count; first += groupSize)
        {
            decoder.Reset();
            int count = Math.Min(groupSize, prompts.Count - first);
            foreach (var generation in DecodeGroup(decoder, prompts, first, count, options, cancellation)) yield return generation;
        }
    }

    private static Generation[] DecodeGroup(Qwen2Decoder decoder, IReadOnlyList<int[]> prompts, int first, int count,
        GenerationOptions options, CancellationToken cancellation)
    {
        var generated = Enumerable.Range(0, count).Select(_ => new List<int>()).ToArray();
        var stops = new StopReason[count];
        var counts = Enumerable.Range(first, count).Select(i => prompts[i].Length).ToArray();
        var tokens = Enumerable.Range(first, count).SelectMany(i => prompts[i]).ToArray();
        var next = new int[count];
        while (tokens.Length > 0)
        {
            cancellation.ThrowIfCancellationRequested();
            decoder.Append(tokens, counts, next);
            var step = new List<int>(count);
            for (int s = 0; s < count; s++)
            {
                if (counts[s] == 0) continue;
                counts[s] = 0;
                int token = next[s];
                if (options.StopTokens.Contains(token))
                {
                    stops[s] = StopReason.StopToken;
                    continue;
                }
                generated[s].Add(token);
                if (generated[s].Count == options.MaxNewTokens)
                {
                    stops[s] = StopReason.MaxNewTokens;
                    continue;
                }
                counts[s] = 1;
                step.Add(token);
            }
            tokens = step.ToArray();
        }
        return Enumerable.Range(0, count).Select(s => new Generation(first + s, generated[s].ToArray(), stops[s])).ToArray();
    }
}
