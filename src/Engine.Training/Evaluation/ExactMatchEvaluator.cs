using Engine.Training.Tokenization;

namespace Engine.Training.Evaluation;

/// <summary>One scored row. Text rows carry the generated text and the extracted answers; pre-tokenized rows (no
/// text) compare <see cref="GeneratedTokens"/> with <see cref="EvalPrompt.ReferenceTokens"/> and leave the texts null.</summary>
public sealed record ExactMatchRow(EvalPrompt Prompt, int[] GeneratedTokens, StopReason Stop, int Produced, string? GeneratedText,
    string? Answer, string? Reference, bool Correct);

/// <summary>Exact match by greedy generation: each prompt's continuation is decoded to text and its answer
/// (<see cref="AnswerExtraction"/>) compared with the reference's. A pre-tokenized row cannot be decoded to text
/// without assuming a tokenizer, so its continuation's token ids must equal the labelled tokens exactly.</summary>
public static class ExactMatchEvaluator
{
    /// <summary>Scores each of <paramref name="prompts"/>: generates its continuation greedily on <paramref name="model"/>
    /// with <paramref name="options"/> and compares it with the reference, yielding one row per prompt in prompt order.</summary>
    /// <param name="model">The model to evaluate.</param>
    /// <param name="prompts">The rows to score.</param>
    /// <param name="tokenizer">Decodes text rows' continuations; may be null when every row is pre-tokenized.</param>
    /// <param name="options">Generation limits, batch size and stop tokens.</param>
    /// <param name="cancellation">Stops between decode steps.</param>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled.</exception>
    public static IEnumerable<ExactMatchRow> Evaluate(Qwen2Model model, IReadOnlyList<EvalPrompt> prompts, ITextTokenizer? tokenizer,
        GenerationOptions options, CancellationToken cancellation = default)
    {
        if (tokenizer == null && prompts.Any(p => p.ReferenceText != null))
            throw new ArgumentException("text rows need a tokenizer to decode their continuations", nameof(tokenizer));
        foreach (var g in GreedyGenerator.Generate(model, prompts.Select(p => p.Prompt).ToList(), options, cancellation))
        {
            var prompt = prompts[g.Index];
            if (prompt.ReferenceText == null)
            {
                yield return new ExactMatchRow(prompt, g.Tokens, g.Stop, g.Produced, null, null, null, g.Tokens.AsSpan().SequenceEqual(prompt.ReferenceTokens));
                continue;
            }
            // A model's vocabulary may be padded past its tokenizer's ids (Qwen2.5: 151936 rows, 151665 ids): such ids
            // have no text and decode to nothing, as in Hugging Face tokenizers.
            string text = tokenizer!.Decode(g.Tokens.Where(t => t < tokenizer.IdLimit));
            string answer = AnswerExtraction.Extract(text), reference = AnswerExtraction.Extract(prompt.ReferenceText);
            yield return new ExactMatchRow(prompt, g.Tokens, g.Stop, g.Produced, text, answer, reference, answer == reference);
        }
    }
}
