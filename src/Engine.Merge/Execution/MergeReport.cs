using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Engine.Core;

namespace Engine.Merge.Execution;

/// <summary>What a merge did, as written to <c>merge-report.json</c> beside the merged model (snake_case keys,
/// absent values left out). Read it back with <see cref="Read"/>.</summary>
/// <param name="Engine">The engine's assembly version.</param>
/// <param name="Config">The config file's full path.</param>
/// <param name="Output">The merged model's directory.</param>
/// <param name="Device">The device, or "N devices" when tensors were spread over several.</param>
/// <param name="Devices">Every device's description.</param>
/// <param name="Warnings">The config's warnings.</param>
/// <param name="Totals">Totals over the run.</param>
/// <param name="Stages">Every stage of the plan, in execution order; the last one is the output.</param>
/// <param name="Tensors">Every output tensor, in plan order.</param>
public sealed record MergeReport(
    string? Engine,
    string Config,
    string Output,
    string Device,
    IReadOnlyList<string> Devices,
    IReadOnlyList<MergeStageSummary> Stages,
    IReadOnlyList<string> Warnings,
    MergeTotals Totals,
    IReadOnlyList<TensorReport> Tensors)
{
    /// <summary>The file name beside the merged model.</summary>
    public const string FileName = "merge-report.json";

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
    };

    /// <summary>The report as JSON text, as the file holds it.</summary>
    public string ToJsonText() => JsonSerializer.Serialize(this, Json);

    /// <summary>The report as a JSON object (for callers that print it with additions of their own).</summary>
    public JsonObject ToJson() => JsonSerializer.SerializeToNode(this, Json)!.AsObject();

    /// <summary>Reads <c>merge-report.json</c> at <paramref name="path"/> (a file, or the merged model's directory);
    /// a missing or malformed file is an <see cref="EngineException"/> naming it.</summary>
    public static MergeReport Read(string path)
    {
        if (Directory.Exists(path)) path = Path.Combine(path, FileName);
        try
        {
            return JsonSerializer.Deserialize<MergeReport>(File.ReadAllText(path), Json) ?? throw new JsonException("the file holds null");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or NotSupportedException)
        {
            throw new EngineException($"{path}: cannot read the merge report: {e.Message}", e);
        }
    }
}

/// <summary>One stage of the plan: its method, its base and the other models, its output dtype and math.</summary>
public sealed record MergeStageSummary(string Name, string Method, string? Base, IReadOnlyList<string> Models, string OutDtype, string Compute, string Quantiles);

/// <summary>Totals over the run. <see cref="KeptFraction"/>: of the elements the last stage merged with a
/// selecting method (Arcee Fusion), the fraction taken from the other model.</summary>
public sealed record MergeTotals(int Tensors, long BytesWritten, long MergedElements, double KeptFraction, double Seconds);

/// <summary>One output tensor: its stored dtype and shape, the time it took, and what each stage did to it.
/// <see cref="Device"/> is its device's index when tensors were spread over several; <see cref="Notes"/> say
/// what was adjusted (rows truncated to a common vocabulary).</summary>
public sealed record TensorReport(string Name, string Dtype, IReadOnlyList<long> Shape, double TimeMs, IReadOnlyList<TensorStageReport> Stages)
{
    /// <summary>The index of the device that computed the tensor, when tensors were spread over several; null otherwise.</summary>
    public int? Device { get; init; }
    /// <summary>What was adjusted for this tensor (such as rows truncated to a common vocabulary); null when nothing was.</summary>
    public IReadOnlyList<string>? Notes { get; init; }
}

/// <summary>What one stage did to one tensor. The statistics every selecting method reports are typed;
/// each method's own further statistics (quartiles, coefficients, ...) are kept in <see cref="Statistics"/>
/// under the names <c>engine methods</c> documents.</summary>
public sealed record TensorStageReport(string Stage, string Method)
{
    /// <summary>Why the tensor was not merged (integer buffers are copied from the base).</summary>
    public string? Note { get; init; }

    /// <summary>Elements the stage merged.</summary>
    public long? Elements { get; init; }

    /// <summary>Elements taken from the other model (Arcee Fusion).</summary>
    public long? Kept { get; init; }

    /// <summary><c>Kept / Elements</c> (Arcee Fusion).</summary>
    public double? KeptFraction { get; init; }

    /// <summary>Arcee Fusion's importance threshold <c>Q50 + lambda * (Q75 - Q25)</c>.</summary>
    public double? Threshold { get; init; }

    /// <summary>Arcee Fusion's <c>lambda</c> for this tensor.</summary>
    public double? Lambda { get; init; }

    /// <summary>Mean of the per-row KL divergences (Arcee Fusion).</summary>
    public double? KlMean { get; init; }

    /// <summary>The method's other statistics by the names <c>engine methods</c> lists (written inline in the JSON).</summary>
    [JsonExtensionData]
    public JsonObject? Statistics { get; init; }

    /// <summary>A stage entry from a method's statistics: the typed ones are lifted out, the rest kept as they are.</summary>
    public static TensorStageReport From(string stage, string method, JsonObject statistics)
    {
        // A typed statistic is lifted out only when it is one number: ramplus_tl reports a lambda per model, kept as is.
        static bool Typed(string key, JsonNode? value) =>
            key is "elements" or "kept" or "kept_fraction" or "threshold" or "lambda" or "kl_mean" && value is JsonValue;
        var rest = new JsonObject();
        foreach (var (key, value) in statistics)
        {
            if (!Typed(key, value)) rest[key] = value?.DeepClone();
        }
        T? Get<T>(string key) where T : struct => statistics[key] is JsonValue v ? v.Deserialize<T>() : null;
        return new TensorStageReport(stage, method)
        {
            Elements = Get<long>("elements"),
            Kept = Get<long>("kept"),
            KeptFraction = Get<double>("kept_fraction"),
            Threshold = Get<double>("threshold"),
            Lambda = Get<double>("lambda"),
            KlMean = Get<double>("kl_mean"),
            Statistics = rest.Count == 0 ? null : rest,
        };
    }
}
