using Engine.Training.Data;

namespace Engine.Training;

/// <summary>The loss of one example: the mean over its scored tokens (null when it has none).</summary>
public sealed record ExampleLoss(int Index, double? Loss, long ScoredTokens, double LossSum);

/// <summary>Mean token loss of every example, forward only. Examples are packed end to end into micro-batches of
/// at most <c>batchTokens</c> tokens (a longer example runs alone); packing changes no example's loss because
/// each document attends only to itself.</summary>
public static class LossEvaluator
{
    /// <summary>The loss of each of <paramref name="examples"/> on <paramref name="model"/>, in example order.</summary>
    /// <exception cref="NativeTrainerException">A token id is outside the vocabulary, or the native trainer fails.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellation"/> was cancelled.</exception>
    public static IEnumerable<ExampleLoss> Evaluate(Qwen2Model model, IReadOnlyList<TokenizedExample> examples, int batchTokens = 4096,
        CancellationToken cancellation = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchTokens, 1);
        int next = 0;
        while (next < examples.Count)
        {
            cancellation.ThrowIfCancellationRequested();
            int first = next, tokens = examples[next].InputIds.Length;
            next++;
            while (next < examples.Count && tokens + examples[next].InputIds.Length <= batchTokens)
                tokens += examples[next++].InputIds.Length;
            var group = examples.Skip(first).Take(next - first).ToList();
            var batch = new PackedBatch(group.SelectMany(e => e.InputIds).ToArray(), group.SelectMany(e => e.Labels).ToArray(),
                group.Select(e => e.InputIds.Length).ToArray());
            var losses = new float[tokens];
            model.Forward(batch, losses);
            int offset = 0;
            for (int i = 0; i < group.Count; i++)
            {
                var e = group[i];
                double sum = 0;
                long scored = 0;
                for (int t = 0; t + 1 < e.InputIds.Length; t++)
                {
                    if (e.Labels[t + 1] == PackedBatch.IgnoreIndex) continue;
                    sum += losses[offset + t];
                    scored++;
                }
                offset += e.InputIds.Length;
                yield return new ExampleLoss(first + i, scored > 0 ? sum / scored : null, scored, sum);
            }
        }
    }
}
