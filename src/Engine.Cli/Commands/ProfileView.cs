using System.Globalization;
using System.Text.Json.Nodes;
using Engine.Core.Diagnostics;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary>What <c>--profile FILE</c> gives back besides the trace file: the <see cref="TraceSummary"/> as a
/// table and a verdict line, or as the <c>profile</c> object of a <c>--json</c> report.</summary>
public static class ProfileView
{
    /// <summary>Writes <paramref name="trace"/> to <paramref name="path"/>, says so on stderr and returns its
    /// summary.</summary>
    public static TraceSummary Write(ProfileTrace trace, string path)
    {
        trace.Write(path);
        Console.Error.WriteLine($"engine: trace of {trace.Count} spans written to {path} (open in ui.perfetto.dev or chrome://tracing)");
        return TraceSummary.Of(trace);
    }

    /// <summary>The report's <c>profile</c> object: the summary and the trace file it came from.</summary>
    public static JsonObject Json(TraceSummary summary, string path)
    {
        var json = summary.ToJson();
        json["trace"] = Path.GetFullPath(path);
        return json;
    }

    /// <summary>Prints the per-category table and the verdict on stdout.</summary>
    public static void Print(TraceSummary summary)
    {
        var table = new Table().AddColumns("category", "busy s", "busy % of wall", "summed s", "spans");
        foreach (var c in summary.Categories)
        {
            // Containers wrap the other stages' spans, so their busy time is never the verdict.
            string name = c.Container ? $"{c.Category} (wraps stages)" : c.Category;
            table.AddRow(Markup.Escape(name), Seconds(c.BusyNanoseconds), (100 * c.BusyFraction(summary.WallNanoseconds)).ToString("F1", CultureInfo.InvariantCulture),
                Seconds(c.SummedNanoseconds), c.Spans.ToString(CultureInfo.InvariantCulture));
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(Markup.Escape($"profile: {summary.Verdict()}"));
    }

    private static string Seconds(long nanoseconds) => (nanoseconds / 1e9).ToString("F3", CultureInfo.InvariantCulture);
}
