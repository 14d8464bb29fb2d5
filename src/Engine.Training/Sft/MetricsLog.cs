using System.Text.Json;
using System.Text.Json.Nodes;

namespace Engine.Training.Sft;

/// <summary><c>OUT/metrics.jsonl</c>: one JSON object per optimizer step (step, loss, lr, grad_norm, tokens,
/// tokens_per_s, collective_s), appended as steps finish; written by rank 0 only.</summary>
public static class MetricsLog
{
    /// <summary>The log's name in the output folder: one JSON object per optimizer step.</summary>
    public const string FileName = "metrics.jsonl";

    /// <summary>Starts the log of a run: empty for a fresh run; for a resumed one, the lines of the steps up to
    /// <paramref name="resumedStep"/> (a crashed run may have logged steps it never saved, the last line perhaps
    /// cut short).</summary>
    public static string Start(string outDir, long resumedStep, bool resumed)
    {
        string path = Path.Combine(outDir, FileName);
        var kept = !resumed || !File.Exists(path) ? [] : File.ReadAllLines(path).Where(l => LoggedStep(l) <= resumedStep).ToArray();
        File.WriteAllLines(path, kept);
        return path;
    }

    /// <summary>Appends step <paramref name="m"/> as one JSON line to the log at <paramref name="path"/>.</summary>
    public static void Append(string path, SftStepMetrics m) => File.AppendAllText(path, ToJson(m).ToJsonString() + "\n");

    /// <summary>One step as the log and <c>engine sft --json</c> print it (loss null when the step had no labels).</summary>
    public static JsonObject ToJson(SftStepMetrics m) => new()
    {
        ["step"] = m.Step,
        ["loss"] = double.IsNaN(m.Loss) ? null : m.Loss,
        ["lr"] = m.Lr,
        ["grad_norm"] = m.GradNorm,
        ["tokens"] = m.Tokens,
        ["tokens_per_s"] = m.TokensPerSecond,
        ["collective_s"] = m.CollectiveSeconds,
    };

    private static long? LoggedStep(string line)
    {
        try
        {
            return JsonNode.Parse(line)?["step"]?.GetValue<long>();
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
