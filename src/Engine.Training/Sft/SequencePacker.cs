using Engine.Training.Data;

namespace Engine.Training.Sft;

/// <summary>A training sequence: one or more whole documents, at most seq_len tokens.</summary>
public sealed record TrainingSequence(int[] Tokens, int[] Labels, int[] DocumentLengths);

/// <summary>Turns examples into sequences. An example longer than seq_len is truncated to its first seq_len
/// tokens (as transformers' cutoff_len does); with greedy packing, examples are laid end to end in file order
/// while the sequence has room.</summary>
public static class SequencePacker
{
    public static List<TrainingSequence> Pack(IReadOnlyList<TokenizedExample> examples, int seqLen, PackingMode packing)
    {
        var result = new List<TrainingSequence>();
        var tokens = new List<int>();
        var labels = new List<int>();
        var docs = new List<int>();
        void Flush()
        {
            if (docs.Count == 0) return;
            result.Add(new TrainingSequence(tokens.ToArray(), labels.ToArray(), docs.ToArray()));
            tokens.Clear();
            labels.Clear();
            docs.Clear();
        }
        foreach (var e in examples)
        {
            int n = Math.Min(seqLen, e.InputIds.Length);
            if (packing == PackingMode.None || tokens.Count + n > seqLen) Flush();
            tokens.AddRange(e.InputIds.AsSpan(0, n).ToArray());
            labels.AddRange(e.Labels.AsSpan(0, n).ToArray());
            docs.Add(n);
        }
        Flush();
        return result;
    }
}
