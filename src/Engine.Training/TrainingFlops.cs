namespace Engine.Training;

/// <summary>Model FLOPs of one training step (forward and backward) of a Qwen2, the numerator of MFU. The count is
/// <c>6 x N x tokens + 12 x layers x heads x head_dim x pairs</c>:
/// <list type="bullet">
/// <item><c>N</c> (<see cref="MatmulParameters"/>) is every weight that multiplies activations in a matrix
/// product: q/k/v/o and the three MLP matrices of each layer, and the classifier (the tied embedding counts once,
/// as the classifier). Biases, norm weights and an untied model's input embedding (a table lookup) do no matrix
/// product and are left out. Each such weight costs 2 FLOPs per token forward and 4 backward (input and weight
/// gradients).</item>
/// <item><c>pairs</c> (<see cref="CausalPairs"/>) counts the (query, key) pairs attention scores: a document of
/// <c>n</c> tokens attends causally within itself, <c>n (n + 1) / 2</c> pairs, and packed documents do not see
/// each other. Per pair and head: <c>QK^T</c> and <c>PV</c> forward (2 x 2 x head_dim), their four gradient
/// products backward (4 x 2 x head_dim), so 12 x head_dim.</item>
/// </list>
/// This is the useful work of the step: recomputation (activation checkpointing, flash attention's backward) and
/// masked-out pairs are not counted, so MFU compares implementations on what they must compute. PaLM's and
/// llm.c's formula counts every pair of a full sequence (<c>T^2</c>, not about <c>T^2 / 2</c>); for Qwen2.5-0.5B at 2048
/// tokens per document that gives 8.2% more FLOPs per step (7.15e12 against 6.61e12 per document).</summary>
public static class TrainingFlops
{
    /// <summary>Weights used in matrix products (see the class summary).</summary>
    public static long MatmulParameters(Qwen2Config c)
    {
        long hidden = c.HiddenSize, q = (long)c.NumHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim;
        long layer = q * hidden + 2 * kv * hidden + hidden * q + 3L * c.IntermediateSize * hidden;
        return c.NumLayers * layer + (long)c.VocabSize * hidden;
    }

    /// <summary>(query, key) pairs of causal attention within each document: <c>sum n (n + 1) / 2</c>.</summary>
    public static long CausalPairs(IEnumerable<int> documentLengths)
    {
        long pairs = 0;
        foreach (int n in documentLengths)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(n, nameof(documentLengths));
            pairs = checked(pairs + (long)n * (n + 1) / 2);
        }
        return pairs;
    }

    /// <summary>FLOPs of one forward and backward over documents of the given lengths (tokens = their sum).</summary>
    public static double Step(Qwen2Config config, IReadOnlyCollection<int> documentLengths)
    {
        long tokens = documentLengths.Sum(n => (long)n);
        double dense = 6.0 * MatmulParameters(config) * tokens;
        double attention = 12.0 * config.NumLayers * config.NumHeads * config.HeadDim * CausalPairs(documentLengths);
        return dense + attention;
    }

    /// <summary>FLOPs of one step over <paramref name="documents"/> documents of <paramref name="documentLength"/>
    /// tokens each (a bench batch such as 4 x 2048).</summary>
    public static double Step(Qwen2Config config, int documents, int documentLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(documents);
        return Step(config, Enumerable.Repeat(documentLength, documents).ToArray());
    }

    /// <summary>Model FLOPs utilisation: achieved FLOP/s over the peak of <paramref name="gpus"/> GPUs of
    /// <paramref name="peakFlopsPerGpu"/> each.</summary>
    public static double Utilisation(double stepFlops, double stepSeconds, double peakFlopsPerGpu, int gpus = 1)
    {
        if (!(stepSeconds > 0)) throw new ArgumentOutOfRangeException(nameof(stepSeconds), stepSeconds, "a step takes a positive time");
        if (!(peakFlopsPerGpu > 0)) throw new ArgumentOutOfRangeException(nameof(peakFlopsPerGpu), peakFlopsPerGpu, "the peak must be positive");
        ArgumentOutOfRangeException.ThrowIfLessThan(gpus, 1);
        return stepFlops / stepSeconds / (peakFlopsPerGpu * gpus);
    }
}
