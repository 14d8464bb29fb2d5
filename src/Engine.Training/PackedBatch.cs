namespace Engine.Training;

/// <summary>One packed micro-batch: documents laid end to end. Each document attends only to itself and its
/// positions start at 0; token t of a document is scored against <c>Labels[t + 1]</c> of the same document
/// (labels shifted left), <see cref="IgnoreIndex"/> meaning no loss. Validated at construction; token ids are
/// checked against the vocabulary by the model.</summary>
public sealed record PackedBatch
{
    /// <summary>The label that takes no loss (torch's <c>CrossEntropyLoss(ignore_index=-100)</c>): prompts, padding.</summary>
    public const int IgnoreIndex = -100;

    /// <summary>A checked batch.</summary>
    /// <exception cref="ArgumentException">No tokens or documents, labels not one per token, a document of length
    /// &lt;= 0, or lengths that do not sum to the token count.</exception>
    public PackedBatch(int[] tokens, int[] labels, int[] documentLengths)
    {
        if (tokens.Length == 0) throw new ArgumentException("a batch needs at least one token");
        if (labels.Length != tokens.Length) throw new ArgumentException($"{labels.Length} labels for {tokens.Length} tokens");
        if (documentLengths.Length == 0) throw new ArgumentException("a batch needs at least one document");
        long sum = 0;
        for (int i = 0; i < documentLengths.Length; i++)
        {
            if (documentLengths[i] <= 0) throw new ArgumentException($"document {i} has length {documentLengths[i]}");
            sum += documentLengths[i];
        }
        if (sum != tokens.Length) throw new ArgumentException($"document lengths sum to {sum}, not the {tokens.Length} tokens");
        Tokens = tokens;
        Labels = labels;
        DocumentLengths = documentLengths;
    }

    /// <summary>One document: labels equal to the tokens (every next token is scored).</summary>
    public static PackedBatch Single(int[] tokens) => new(tokens, (int[])tokens.Clone(), [tokens.Length]);

    /// <summary>Token ids, (T), every document end to end.</summary>
    public int[] Tokens { get; }
    /// <summary>Labels, (T), aligned with <see cref="Tokens"/>; token t is scored against <c>Labels[t + 1]</c>.</summary>
    public int[] Labels { get; }
    /// <summary>The documents' lengths in order; they sum to T.</summary>
    public int[] DocumentLengths { get; }

    /// <summary>Tokens that carry a loss: positions whose shifted label, in the same document, is not ignored.</summary>
    public int ScoredTokens => CountScored(Labels, DocumentLengths);

    /// <summary>Positions whose shifted label, in the same document, is not <see cref="IgnoreIndex"/>.</summary>
    public static int CountScored(int[] labels, int[] documentLengths)
    {
        int count = 0, start = 0;
        foreach (int n in documentLengths)
        {
            for (int t = start + 1; t < start + n; t++)
                if (labels[t] != IgnoreIndex) count++;
            start += n;
        }
        return count;
    }
}
