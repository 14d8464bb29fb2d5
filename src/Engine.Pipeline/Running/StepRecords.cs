using System.Text.Json;
using System.Text.Json.Serialization;
using Engine.Core;

namespace Engine.Pipeline.Running;

/// <summary>What a finished SFT step did: steps, the step it resumed from (0: a fresh run), the tokens it trained
/// on, its training time (the sum of its steps' times from metrics.jsonl, over every attempt when it was
/// resumed) and the wall time of the attempt that finished it.</summary>
public sealed record SftOutcome(string Key, long Steps, long ResumedFromStep, long Tokens, double TrainSeconds, double WallSeconds);

/// <summary>What a finished merge step did: its wall time and the fraction of merged elements taken from the
/// other model in its last stage (Arcee Fusion; null for a method that does not select, such as the average).</summary>
public sealed record MergeOutcome(string Key, double WallSeconds, double? KeptFraction);

/// <summary>A model's scores on one domain: accuracy (null when the recipe's metric is loss) and held-out loss, each
/// with its 95% bootstrap interval, and the number of rows.</summary>
public sealed record EvalOutcome(string Key, int Rows, double? Accuracy, double[]? AccuracyCi95, double Loss, double[] LossCi95, double WallSeconds);

/// <summary>Reads and writes the step records (<c>step.json</c>) in snake_case JSON.</summary>
public static class StepRecords
{
    /// <summary>The record's name in a step folder; a folder without it is not a finished step.</summary>
    public const string FileName = "step.json";

    /// <summary>The pipeline's JSON style (step records, report.json): snake_case names and enums, absent values left out.</summary>
    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>Writes <paramref name="record"/> as <c>DIRECTORY/step.json</c>; the step is finished once its folder is
    /// published with this file in it.</summary>
    public static void Write<T>(string directory, T record) => File.WriteAllText(Path.Combine(directory, FileName), JsonSerializer.Serialize(record, Json));

    /// <summary>Reads <c>DIRECTORY/step.json</c> as <typeparamref name="T"/>.</summary>
    /// <exception cref="Core.EngineException">The file is missing, unreadable or not a <typeparamref name="T"/>; the
    /// message names the file.</exception>
    public static T Read<T>(string directory)
    {
        string path = Path.Combine(directory, FileName);
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Json) ?? throw new JsonException("the file holds null");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            throw new EngineException($"{path}: cannot read the step record: {e.Message}", e);
        }
    }

    /// <summary><paramref name="value"/> in the pipeline's JSON style (snake_case, indented, nulls left out).</summary>
    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Json);
}
