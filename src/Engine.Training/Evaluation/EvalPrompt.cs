using Engine.Training.Data;

namespace Engine.Training.Evaluation;

/// <summary>One row to evaluate by generation. <see cref="Prompt"/> is the row's tokens before its last run of
/// labelled tokens: for a text row, the conversation up to its last assistant turn rendered with the chat template,
/// ending in the assistant header (the generation prompt). The reference is that last run: for text rows also as
/// text (<see cref="ReferenceText"/>, the last assistant message, or alpaca's <c>output</c>); for pre-tokenized rows,
/// which have no text, only as <see cref="ReferenceTokens"/>, the labelled tokens up to the first stop token.</summary>
public sealed record EvalPrompt(int Index, int Line, int[] Prompt, string? ReferenceText, int[] ReferenceTokens);

/// <summary>Builds <see cref="EvalPrompt"/>s from a loaded dataset.</summary>
public static class EvalPrompts
{
    /// <summary>The prompts of a loaded dataset. A row whose labels are all -100 has nothing to compare with: a
    /// <see cref="DatasetFormatException"/> naming <paramref name="dataPath"/> and the line.</summary>
    public static IReadOnlyList<EvalPrompt> From(LoadedDataset dataset, IReadOnlySet<int> stopTokens, string dataPath)
    {
        var prompts = new List<EvalPrompt>(dataset.Examples.Count);
        for (int i = 0; i < dataset.Examples.Count; i++)
        {
            var e = dataset.Examples[i];
            // Labels are shifted left (token t is scored against label t + 1), so label 0 never counts and the
            // prompt keeps at least the first token.
            int end = e.Labels.Length - 1;
            while (end >= 1 && e.Labels[end] == PackedBatch.IgnoreIndex) end--;
            if (end < 1) throw new DatasetFormatException(dataPath, e.Line, "the row has no labelled tokens: no reference to compare a generation with");
            int start = end;
            while (start > 1 && e.Labels[start - 1] != PackedBatch.IgnoreIndex) start--;
            var reference = e.Labels[start..(end + 1)].TakeWhile(t => !stopTokens.Contains(t)).ToArray();
            prompts.Add(new EvalPrompt(i, e.Line, e.InputIds[..start], dataset.Conversations[i]?.Turns[^1].Content, reference));
        }
        return prompts;
    }
}
