using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Engine.Core.Diagnostics;

/// <summary>Time of one span category in a <see cref="TraceSummary"/>.</summary>
/// <param name="Category">The spans' category ("read", "kernel", ...).</param>
/// <param name="BusyNanoseconds">Length of the union of the category's span intervals over every thread:
/// time during which at least one such span was open (overlapping spans counted once).</param>
/// <param name="SummedNanoseconds">Sum of the spans' durations (overlaps counted as often as they overlap).</param>
/// <param name="Spans">Number of spans.</param>
/// <param name="Container">True for categories whose spans wrap other stages' spans ("tensor", "call").</param>
public sealed record CategoryTime(string Category, long BusyNanoseconds, long SummedNanoseconds, int Spans, bool Container)
{
    /// <summary><see cref="BusyNanoseconds"/> over the run's wall time (0 when the wall time is 0).</summary>
    public double BusyFraction(long wallNanoseconds) => wallNanoseconds == 0 ? 0 : (double)BusyNanoseconds / wallNanoseconds;
}

/// <summary>Where a traced run spent its time, per span category: busy time (the union of the category's span
/// intervals over all threads), summed span time and span count, against the run's wall time (first span start
/// to last span end). <see cref="BoundBy"/> names the stage category busy longest: with stages overlapping
/// (prefetch reads beside kernels beside writes), that stage is the one the run waits on. Computed in integer
/// nanoseconds, so the result is exact and does not depend on the order spans were recorded in.</summary>
public sealed record TraceSummary(long WallNanoseconds, ImmutableArray<CategoryTime> Categories, string? BoundBy)
{
    /// <summary>Categories whose spans wrap other stages' spans, outermost first: never a verdict, since they
    /// contain the stage that binds.</summary>
    public static ImmutableArray<string> ContainerCategories { get; } = ["tensor", "call"];

    /// <summary>Pipeline order of the stage categories, used to order <see cref="Categories"/>; other stage
    /// categories follow by name, then the containers.</summary>
    private static readonly ImmutableArray<string> StageOrder = ["read", "convert", "upload", "kernel", "download", "write"];

    /// <summary>Spans summed over every category.</summary>
    public int SpanCount => Categories.Sum(c => c.Spans);

    /// <summary>The summary of every span <paramref name="trace"/> has recorded.</summary>
    public static TraceSummary Of(ProfileTrace trace) => Of(trace.Events());

    /// <summary>The summary of <paramref name="events"/>: per category the union of its spans' intervals (overlaps counted once)
    /// and the stage that binds the wall time.</summary>
    public static TraceSummary Of(IReadOnlyCollection<TraceEvent> events)
    {
        if (events.Count == 0) return new TraceSummary(0, [], null);
        long first = events.Min(e => e.StartNanoseconds);
        long last = events.Max(e => e.EndNanoseconds);
        var categories = events.GroupBy(e => e.Category, StringComparer.Ordinal)
            .Select(g => new CategoryTime(g.Key, Union(g), g.Sum(e => e.DurationNanoseconds), g.Count(), ContainerCategories.Contains(g.Key)))
            .OrderBy(c => c.Container)
            .ThenBy(c => (c.Container ? ContainerCategories : StageOrder).IndexOf(c.Category) is >= 0 and var i ? i : int.MaxValue)
            .ThenBy(c => c.Category, StringComparer.Ordinal)
            .ToImmutableArray();
        // Ties go to the earlier stage in pipeline order: deterministic, and rare with nanosecond times.
        var bound = categories.Where(c => !c.Container).MaxBy(c => c.BusyNanoseconds);
        return new TraceSummary(last - first, categories, bound?.Category);
    }

    /// <summary>Length of the union of the spans' intervals: sorted by start, each span adds only the part of it
    /// past the furthest end seen so far.</summary>
    private static long Union(IEnumerable<TraceEvent> spans)
    {
        long busy = 0, reach = long.MinValue;
        foreach (var e in spans.OrderBy(e => e.StartNanoseconds))
        {
            long start = Math.Max(e.StartNanoseconds, reach);
            if (e.EndNanoseconds > start) busy += e.EndNanoseconds - start;
            reach = Math.Max(reach, e.EndNanoseconds);
        }
        return busy;
    }

    /// <summary>The verdict as one line, e.g. "bound by write: busy 82% of the 12.310 s traced".</summary>
    public string Verdict() => BoundBy is null
        ? "no stage spans were traced"
        : string.Create(CultureInfo.InvariantCulture,
            $"bound by {BoundBy}: busy {100 * Categories.First(c => c.Category == BoundBy).BusyFraction(WallNanoseconds):F0}% of the {WallNanoseconds / 1e9:F3} s traced");

    /// <summary>The summary as the <c>profile</c> object of a JSON report (times in seconds).</summary>
    public JsonObject ToJson() => new()
    {
        ["wall_seconds"] = Seconds(WallNanoseconds),
        ["spans"] = SpanCount,
        ["bound_by"] = BoundBy,
        ["categories"] = new JsonArray(Categories.Select(c => (JsonNode)new JsonObject
        {
            ["category"] = c.Category,
            ["busy_seconds"] = Seconds(c.BusyNanoseconds),
            ["summed_seconds"] = Seconds(c.SummedNanoseconds),
            ["spans"] = c.Spans,
            ["busy_fraction"] = Math.Round(c.BusyFraction(WallNanoseconds), 4),
            ["container"] = c.Container,
        }).ToArray()),
    };

    private static double Seconds(long nanoseconds) => Math.Round(nanoseconds / 1e9, 6);
}
