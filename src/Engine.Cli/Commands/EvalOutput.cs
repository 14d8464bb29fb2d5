using System.Globalization;
using System.Text.Json.Nodes;
using Engine.Training;
using Engine.Training.Evaluation;

namespace Engine.Cli.Commands;

/// <summary>What <c>engine eval</c> prints. With <c>--json</c>, stdout gets one JSON object per row and a last one
/// with <c>"summary": true</c>; otherwise only the summary, as one line.</summary>
internal sealed class EvalOutput(bool json)
{
    /// <summary>A row of exact match: text rows give the generated text and both extracted answers; pre-tokenized rows
    /// the generated and reference token ids (they are compared as ids).</summary>
    public void Row(ExactMatchRow row)
    {
        if (!json) return;
        var line = new JsonObject
        {
            ["index"] = row.Prompt.Index, ["line"] = row.Prompt.Line, ["prompt_tokens"] = row.Prompt.Prompt.Length,
            ["new_tokens"] = row.GeneratedTokens.Length, ["stop"] = row.Stop == StopReason.StopToken ? "stop_token" : "max_new_tokens",
        };
        if (row.GeneratedText != null)
        {
            line["generated"] = row.GeneratedText;
            line["answer"] = row.Answer;
            line["reference"] = row.Reference;
        }
        else
        {
            line["generated_ids"] = new JsonArray(row.GeneratedTokens.Select(t => (JsonNode)t).ToArray());
            line["reference_ids"] = new JsonArray(row.Prompt.ReferenceTokens.Select(t => (JsonNode)t).ToArray());
        }
        line["correct"] = row.Correct;
        Console.Out.WriteLine(line.ToJsonString());
    }

    public void Row(ExampleLoss loss, int fileLine)
    {
        if (!json) return;
        Console.Out.WriteLine(new JsonObject { ["index"] = loss.Index, ["line"] = fileLine, ["loss"] = loss.Loss, ["tokens"] = loss.ScoredTokens }.ToJsonString());
    }

    public void Summary(EvalSummary s)
    {
        string value = s.Metric == EvalMetric.ExactMatch ? "accuracy" : "loss";
        if (json)
        {
            Console.Out.WriteLine(new JsonObject
            {
                ["summary"] = true, ["metric"] = s.Metric == EvalMetric.ExactMatch ? "exact_match" : "loss", ["n"] = s.Count,
                [value] = s.Value, ["ci95"] = new JsonArray(s.Interval.Low, s.Interval.High),
                ["tokens"] = s.Tokens, ["seconds"] = s.Seconds, ["tokens_per_second"] = s.TokensPerSecond,
            }.ToJsonString());
            return;
        }
        string tokens = s.Metric == EvalMetric.ExactMatch ? "generated tokens" : "tokens";
        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{value} {s.Value:F4} (95% CI {s.Interval.Low:F4} to {s.Interval.High:F4}), n = {s.Count}, {s.Tokens} {tokens} in {s.Seconds:F2} s ({s.TokensPerSecond:F1} tokens/s)"));
    }
}
