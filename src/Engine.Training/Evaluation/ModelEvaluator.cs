using System.Diagnostics;
using Engine.Core;
using Engine.Core.Model;
using Engine.Training.Data;
using Engine.Training.Tokenization;

namespace Engine.Training.Evaluation;

/// <summary>A loaded model's score on a loaded data file, as <c>engine eval</c> and the pipeline compute it: accuracy
/// by greedy generation and exact match of the extracted answers (<see cref="ExactMatchEvaluator"/>), or the mean
/// token loss on the assistant turns (<see cref="LossEvaluator"/>), each with its 95% bootstrap interval.</summary>
public static class ModelEvaluator
{
    /// <summary>Accuracy over the rows of <paramref name="dataset"/>; <paramref name="onRow"/> sees every row's
    /// generation as it is scored. <paramref name="dataPath"/> names the file in errors.</summary>
    public static EvalSummary ExactMatch(Qwen2Model model, ModelDirectory directory, LoadedDataset dataset, string dataPath, int maxNewTokens, int batchSize,
        Action<ExactMatchRow>? onRow = null, CancellationToken cancellation = default)
    {
        // Pre-tokenized rows need no tokenizer, but the model's own tokenizer.json still names its end-of-turn token.
        ITextTokenizer? tokenizer = dataset.Tokenizer
            ?? (File.Exists(Path.Combine(directory.Path, ModelTokenizer.FileName)) ? ModelTokenizer.Load(directory.Path, model.Config.VocabSize) : null);
        var stops = StopTokens.Of(directory.Config!, tokenizer);
        var options = new GenerationOptions(maxNewTokens, batchSize, stops);
        var prompts = EvalPrompts.From(dataset, stops, dataPath);
        var values = new List<double>(prompts.Count);
        long produced = 0;
        var clock = Stopwatch.StartNew();
        foreach (var row in ExactMatchEvaluator.Evaluate(model, prompts, tokenizer, options, cancellation))
        {
            values.Add(row.Correct ? 1 : 0);
            produced += row.Produced;
            onRow?.Invoke(row);
        }
        return EvalSummary.Of(EvalMetric.ExactMatch, values, values.Select(_ => 1.0).ToList(), produced, clock.Elapsed.TotalSeconds);
    }

    /// <summary>The mean token loss over the labelled tokens of all rows (rows weighted by their scored tokens);
    /// <paramref name="onRow"/> sees every row's loss. A file with no labelled token is an error.</summary>
    public static EvalSummary Loss(Qwen2Model model, LoadedDataset dataset, Action<ExampleLoss>? onRow = null, CancellationToken cancellation = default)
    {
        var values = new List<double>();
        var weights = new List<double>();
        var clock = Stopwatch.StartNew();
        foreach (var loss in LossEvaluator.Evaluate(model, dataset.Examples, cancellation: cancellation))
        {
            onRow?.Invoke(loss);
            if (loss.ScoredTokens == 0) continue;
            values.Add(loss.LossSum);
            weights.Add(loss.ScoredTokens);
        }
        if (values.Count == 0) throw new EngineException("eval: no row has a labelled token: there is no loss to report");
        return EvalSummary.Of(EvalMetric.Loss, values, weights, dataset.Examples.Sum(e => (long)e.InputIds.Length), clock.Elapsed.TotalSeconds);
    }
}
