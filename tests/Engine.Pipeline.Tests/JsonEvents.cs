using System.Text.Json.Nodes;

namespace Engine.Pipeline.Tests;

/// <summary>Reads what <c>engine pipeline --json</c> and <c>engine demo --json</c> print: one JSON object per line.</summary>
internal static class JsonEvents
{
    /// <summary>Every line of <paramref name="stdout"/> as a JSON object.</summary>
    public static List<JsonObject> Lines(string stdout) =>
        stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();

    /// <summary>The line's <c>event</c>: plan, cached, started, progress, finished or report.</summary>
    public static string Event(JsonObject e) => e["event"]!.GetValue<string>();

    /// <summary>The line's <c>step</c> id.</summary>
    public static string Step(JsonObject e) => e["step"]!.GetValue<string>();
}
