using Engine.Core.Diagnostics;

namespace Engine.Core.Tests;

/// <summary><see cref="TraceSummary"/> on hand-made spans (times in nanoseconds), where every busy time can be
/// worked out on paper.</summary>
public sealed class TraceSummaryTests
{
    private static TraceEvent E(string category, int thread, long start, long end, string name = "span") =>
        new(name, category, thread, start, end - start);

    private static CategoryTime Category(TraceSummary summary, string category) => summary.Categories.Single(c => c.Category == category);

    [Fact]
    public void OverlappingSpansOnTwoThreadsCountOnceInBusyTimeAndTwiceInSummedTime()
    {
        var summary = TraceSummary.Of([E("read", 1, 100, 300), E("read", 2, 200, 500)]);
        var read = Category(summary, "read");
        Assert.Equal(400, read.BusyNanoseconds); // [100, 500)
        Assert.Equal(500, read.SummedNanoseconds);
        Assert.Equal(2, read.Spans);
        Assert.Equal(400, summary.WallNanoseconds);
        Assert.Equal(1.0, read.BusyFraction(summary.WallNanoseconds));
    }

    [Fact]
    public void NestedSpansOfOneCategoryCountTheOuterSpanOnce()
    {
        // A tensor holding a kernel that holds another kernel span (a backend's own span inside the contract's),
        // then a write; a second tensor with nothing traced inside.
        var summary = TraceSummary.Of(
        [
            E("tensor", 1, 0, 1000), E("kernel", 1, 100, 400), E("kernel", 1, 150, 250), E("write", 1, 400, 500),
            E("tensor", 1, 1000, 1200),
        ]);
        var kernel = Category(summary, "kernel");
        Assert.Equal(300, kernel.BusyNanoseconds);
        Assert.Equal(400, kernel.SummedNanoseconds);
        Assert.Equal(1200, Category(summary, "tensor").BusyNanoseconds);
        Assert.Equal(1200, summary.WallNanoseconds);
        Assert.Equal("kernel", summary.BoundBy);
    }

    [Fact]
    public void DisjointSpansAddUpAndLeaveTheGapsIdle()
    {
        var summary = TraceSummary.Of([E("write", 1, 10, 20), E("write", 1, 30, 45), E("write", 3, 100, 110)]);
        var write = Category(summary, "write");
        Assert.Equal(35, write.BusyNanoseconds);
        Assert.Equal(35, write.SummedNanoseconds);
        Assert.Equal(100, summary.WallNanoseconds); // first start 10 to last end 110, not from 0
        Assert.Equal(0.35, write.BusyFraction(summary.WallNanoseconds), 12);
    }

    [Fact]
    public void EmptyTraceHasNoCategoriesAndNoVerdict()
    {
        var summary = TraceSummary.Of(Array.Empty<TraceEvent>());
        Assert.Equal(0, summary.WallNanoseconds);
        Assert.Empty(summary.Categories);
        Assert.Null(summary.BoundBy);
        Assert.Equal("no stage spans were traced", summary.Verdict());
        var json = summary.ToJson();
        Assert.Equal(0.0, json["wall_seconds"]!.GetValue<double>());
        Assert.Null(json["bound_by"]);
        Assert.Empty(json["categories"]!.AsArray());
    }

    [Fact]
    public void ContainersAreSummarisedButNeverTheVerdict()
    {
        // Two threads: upload/kernel/download inside a "call" inside a "tensor" on one, a prefetch read on the other.
        var summary = TraceSummary.Of(
        [
            E("tensor", 1, 0, 2000), E("call", 1, 0, 1800),
            E("upload", 1, 0, 600), E("kernel", 1, 600, 700), E("download", 1, 700, 900), E("upload", 1, 900, 1400),
            E("read", 2, 100, 1000),
        ]);
        Assert.Equal(["read", "upload", "kernel", "download", "tensor", "call"], summary.Categories.Select(c => c.Category));
        Assert.True(Category(summary, "tensor").Container);
        Assert.True(Category(summary, "call").Container);
        Assert.False(Category(summary, "read").Container);
        Assert.Equal(1100, Category(summary, "upload").BusyNanoseconds);
        Assert.Equal("upload", summary.BoundBy);
        Assert.Equal("bound by upload: busy 55% of the 0.000 s traced", summary.Verdict());
        Assert.Equal(7, summary.SpanCount);
    }

    [Fact]
    public void OnlyContainerSpansGiveNoVerdict()
    {
        var summary = TraceSummary.Of([E("tensor", 1, 0, 10)]);
        Assert.Null(summary.BoundBy);
        Assert.Single(summary.Categories);
    }

    [Fact]
    public void EqualBusyTimesGoToTheEarlierStageAndUnknownCategoriesFollowTheKnownOnes()
    {
        var summary = TraceSummary.Of([E("write", 1, 0, 50), E("zeta", 2, 0, 50), E("read", 3, 0, 50), E("alpha", 1, 60, 70)]);
        Assert.Equal("read", summary.BoundBy);
        Assert.Equal(["read", "write", "alpha", "zeta"], summary.Categories.Select(c => c.Category));
    }

    [Fact]
    public void SummaryDoesNotDependOnTheOrderSpansWereRecorded()
    {
        var spans = new List<TraceEvent>();
        var random = new Random(12345);
        string[] categories = ["read", "convert", "kernel", "write", "tensor"];
        for (int i = 0; i < 500; i++)
        {
            long start = random.Next(0, 1_000_000);
            spans.Add(E(categories[random.Next(categories.Length)], random.Next(1, 5), start, start + random.Next(0, 20_000)));
        }
        string expected = TraceSummary.Of(spans).ToJson().ToJsonString();
        for (int seed = 0; seed < 5; seed++)
        {
            var shuffled = spans.ToArray();
            new Random(seed).Shuffle(shuffled);
            Assert.Equal(expected, TraceSummary.Of(shuffled).ToJson().ToJsonString());
        }
        // Against a brute-force union: mark every nanosecond some span of the category covers.
        var summary = TraceSummary.Of(spans);
        foreach (var category in categories)
        {
            var covered = new bool[1_020_001];
            foreach (var e in spans.Where(e => e.Category == category))
                for (long t = e.StartNanoseconds; t < e.EndNanoseconds; t++) covered[t] = true;
            Assert.Equal(covered.Count(c => c), Category(summary, category).BusyNanoseconds);
            Assert.True(Category(summary, category).BusyNanoseconds <= summary.WallNanoseconds);
        }
    }

    [Fact]
    public void RecordedNestedSpansStayNestedAndBusyTimesStayWithinTheWall()
    {
        var trace = new ProfileTrace();
        using (trace.Span("t", "tensor"))
        {
            using (trace.Span("k", "kernel")) Thread.Sleep(2);
            Parallel.For(0, 4, _ =>
            {
                using (trace.Span("w", "write")) Thread.Sleep(1);
            });
        }
        var events = trace.Events();
        Assert.Equal(6, events.Count);
        var tensor = events.Single(e => e.Category == "tensor");
        Assert.All(events, e => Assert.True(e.StartNanoseconds >= tensor.StartNanoseconds && e.EndNanoseconds <= tensor.EndNanoseconds, $"{e} outside {tensor}"));
        var summary = TraceSummary.Of(trace);
        Assert.Equal(tensor.DurationNanoseconds, summary.WallNanoseconds);
        Assert.All(summary.Categories, c => Assert.True(c.BusyNanoseconds <= summary.WallNanoseconds && c.BusyNanoseconds <= c.SummedNanoseconds));
        Assert.Equal(4, Category(summary, "write").Spans);
        Assert.True(Category(summary, "kernel").BusyNanoseconds >= 2_000_000);
    }
}
