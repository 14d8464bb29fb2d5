using System.Globalization;
using System.Text.Json.Nodes;
using Engine.Core.Diagnostics;

namespace Engine.Training;

/// <summary>Which part of a training step a profiled op belongs to.</summary>
public enum OpPass
{
    /// <summary>The decoder layers' forward ops.</summary>
    Forward = 0,
    /// <summary>The decoder layers' backward ops.</summary>
    Backward = 1,

    /// <summary>The classifier and cross-entropy (forward and backward per chunk).</summary>
    Loss = 2,

    /// <summary>Gradient accumulation, flush, norm and AdamW.</summary>
    Optimizer = 3,
}

/// <summary>One op of a profiled step, as the native trainer timed it (<see cref="Qwen2Model.ReadProfile"/>): on the
/// CPU an op of forward, backward, the classifier or the optimizer by the host's steady clock; on a GPU one kernel
/// launch or GEMM by a pair of CUDA events. <see cref="Layer"/> is -1 outside the decoder layers; the start is in
/// microseconds after the first op's.</summary>
public sealed record OpTiming(string Op, int Layer, OpPass Pass, double StartMicroseconds, double DurationMicroseconds);

/// <summary>The time of every call of one op in a step, and its share of the step's op time.</summary>
public sealed record OpShare(string Op, double Microseconds, int Calls, double Share);

/// <summary>The ops of one profiled training step: per op (summed over layers and calls) its time and share of the
/// step's op time, the slowest first; the trace of each op on a track of a <see cref="ProfileTrace"/>.
/// <see cref="Coverage"/> is the ops' time over the step's wall time (below 1 by the host's own work between ops:
/// the batch's layout, the collectives, on a GPU the launch gaps).</summary>
public sealed class StepProfile
{
    /// <summary>A profile of <paramref name="ops"/> in a step of <paramref name="stepSeconds"/> wall seconds on <paramref name="device"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="ops"/> is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="stepSeconds"/> is not positive.</exception>
    public StepProfile(IReadOnlyList<OpTiming> ops, double stepSeconds, string device)
    {
        ArgumentNullException.ThrowIfNull(ops);
        if (ops.Count == 0) throw new ArgumentException("a step profile needs at least one timed op", nameof(ops));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stepSeconds);
        Ops = ops;
        StepSeconds = stepSeconds;
        Device = device;
        OpMicroseconds = ops.Sum(o => o.DurationMicroseconds);
        ByOp = ops.GroupBy(o => o.Op, StringComparer.Ordinal)
            .Select(g => new OpShare(g.Key, g.Sum(o => o.DurationMicroseconds), g.Count(), OpMicroseconds > 0 ? g.Sum(o => o.DurationMicroseconds) / OpMicroseconds : 0))
            .OrderByDescending(s => s.Microseconds).ThenBy(s => s.Op, StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>Ends a profiled step of <paramref name="model"/> (timing turned on by <see cref="Qwen2Model.SetProfiling"/>):
    /// reads the ops it timed, turns timing off, and adds the ops to <paramref name="trace"/> from
    /// <paramref name="startNanoseconds"/>, where the step's own span began.</summary>
    public static StepProfile Collect(Qwen2Model model, double stepSeconds, string device, ProfileTrace trace, long startNanoseconds)
    {
        var ops = model.ReadProfile();
        model.SetProfiling(false);
        var profile = new StepProfile(ops, stepSeconds, device);
        profile.AddTo(trace, startNanoseconds);
        return profile;
    }

    /// <summary>Every timed op, in start order.</summary>
    public IReadOnlyList<OpTiming> Ops { get; }
    /// <summary>The step's wall time.</summary>
    public double StepSeconds { get; }
    /// <summary>Where the step ran (<c>cpu</c>, <c>cuda:0</c>, ...).</summary>
    public string Device { get; }

    /// <summary>Sum of every op's duration.</summary>
    public double OpMicroseconds { get; }

    /// <summary>Every op, the slowest (most time in the step) first; the shares sum to 1.</summary>
    public IReadOnlyList<OpShare> ByOp { get; }

    /// <summary><c>OpMicroseconds / (StepSeconds * 1e6)</c>: how much of the step the ops account for.</summary>
    public double Coverage => OpMicroseconds / (StepSeconds * 1e6);

    /// <summary>The <paramref name="count"/> ops with the most time, slowest first.</summary>
    public IReadOnlyList<OpShare> Slowest(int count = 5) => ByOp.Take(count).ToList();

    /// <summary>Adds each op as a span of category <c>op</c> (detail: layer and pass) on the track
    /// "<see cref="Device"/> ops", starting at <paramref name="startNanoseconds"/> of <paramref name="trace"/>.</summary>
    public void AddTo(ProfileTrace trace, long startNanoseconds)
    {
        string track = $"{Device} ops";
        foreach (var o in Ops)
        {
            string detail = o.Layer >= 0 ? $"layer {o.Layer}, {Name(o.Pass)}" : Name(o.Pass);
            trace.Add(o.Op, "op", track, startNanoseconds + (long)Math.Round(o.StartMicroseconds * 1000), (long)Math.Round(o.DurationMicroseconds * 1000), detail);
        }
    }

    /// <summary>The report's <c>profile</c> object: step and op times, coverage, the slowest five with their shares.</summary>
    public JsonObject ToJson(string tracePath)
    {
        var slowest = new JsonArray();
        foreach (var s in Slowest())
            slowest.Add(new JsonObject { ["op"] = s.Op, ["ms"] = Math.Round(s.Microseconds / 1000, 4), ["calls"] = s.Calls, ["share"] = Math.Round(s.Share, 4) });
        return new JsonObject
        {
            ["trace"] = Path.GetFullPath(tracePath),
            ["device"] = Device,
            ["step_ms"] = Math.Round(StepSeconds * 1000, 4),
            ["op_ms"] = Math.Round(OpMicroseconds / 1000, 4),
            ["coverage"] = Math.Round(Coverage, 4),
            ["ops"] = Ops.Count,
            ["slowest"] = slowest,
        };
    }

    /// <summary>One line per op of <see cref="Slowest"/>, for the console.</summary>
    public IEnumerable<string> Describe()
    {
        yield return string.Create(CultureInfo.InvariantCulture,
            $"profile of one step on {Device}: {OpMicroseconds / 1000:F3} ms in {Ops.Count} ops ({Coverage:P1} of the {StepSeconds * 1000:F3} ms step); slowest:");
        foreach (var s in Slowest())
            yield return string.Create(CultureInfo.InvariantCulture, $"  {s.Op,-34} {s.Share,7:P1}  {s.Microseconds / 1000,10:F3} ms  {s.Calls,5} calls");
    }

    private static string Name(OpPass pass) => pass.ToString().ToLowerInvariant();
}
