using System.Diagnostics;

namespace Engine.Merge.Benchmarks;

/// <summary>How every <c>engine bench</c> measurement summarises its samples: the median, after a warm-up run (tiered
/// compilation runs a hot loop unoptimised for its first seconds).</summary>
public static class BenchTiming
{
    /// <summary>The median of <paramref name="values"/> (the mean of the middle two for an even count).</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        var s = values.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }

    /// <summary>Runs <paramref name="run"/> once to warm up, then <paramref name="repeat"/> timed times; the upper
    /// median of the timed runs in seconds.</summary>
    public static double MedianSeconds(int repeat, Action run)
    {
        run();
        var samples = new double[repeat];
        for (int i = 0; i < repeat; i++)
        {
            var clock = Stopwatch.StartNew();
            run();
            samples[i] = clock.Elapsed.TotalSeconds;
        }
        Array.Sort(samples);
        return samples[repeat / 2];
    }

    /// <summary>Runs each side once to warm up, then the two in turn <paramref name="repeat"/> times (so that load
    /// changes during the run hit both alike); the median of each side's timed runs, as each run reports its seconds.</summary>
    public static (double First, double Second) AlternatingMedians(int repeat, Func<double> first, Func<double> second) =>
        AlternatingMedians(repeat, [first, second]) is [var a, var b] ? (a, b) : throw new InvalidOperationException();

    /// <summary>As the two-sided overload, for any number of sides run in turn: the median of each, in order.</summary>
    public static double[] AlternatingMedians(int repeat, IReadOnlyList<Func<double>> sides)
    {
        foreach (var side in sides) side();
        var samples = sides.Select(_ => new List<double>()).ToArray();
        for (int r = 0; r < repeat; r++)
        {
            for (int i = 0; i < sides.Count; i++) samples[i].Add(sides[i]());
        }
        return samples.Select(Median).ToArray();
    }
}
