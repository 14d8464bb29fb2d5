using System.Diagnostics;
using System.Text.Json;

namespace Engine.Core.Diagnostics;

/// <summary>Records timed spans of pipeline stages (read, convert, upload, kernel, download, write) from any
/// thread and writes them as a Chrome/Perfetto trace (<c>chrome://tracing</c>, ui.perfetto.dev): complete
/// ("X") events with microsecond timestamps, one track per thread.</summary>
public sealed class ProfileTrace
{
    private readonly long _origin = Stopwatch.GetTimestamp();
    private readonly List<TraceEvent> _events = new();
    private readonly Dictionary<int, string> _threads = new();
    private readonly Dictionary<string, int> _tracks = new(StringComparer.Ordinal);

    // Tracks of spans timed elsewhere get ids far above any managed thread id.
    private const int FirstTrackId = 1_000_000;

    /// <summary>Starts a span; it is recorded when the returned value is disposed.</summary>
    public Span Begin(string name, string category, string? detail = null) => new(this, name, category, detail, Stopwatch.GetTimestamp());

    /// <summary>Spans recorded so far (safe to read while other threads record).</summary>
    public int Count
    {
        get { lock (_events) return _events.Count; }
    }

    /// <summary>A snapshot of the spans recorded so far, in the order they ended.</summary>
    public IReadOnlyList<TraceEvent> Events()
    {
        lock (_events) return _events.ToArray();
    }

    /// <summary>Nanoseconds since the trace began, now (to place spans timed by another clock).</summary>
    public long NowNanoseconds => Nanoseconds(Stopwatch.GetTimestamp() - _origin);

    /// <summary>Records a span timed by another clock (a GPU's events, a native library's clock) on its own track
    /// <paramref name="track"/>: it starts <paramref name="startNanoseconds"/> after the trace began.</summary>
    public void Add(string name, string category, string track, long startNanoseconds, long durationNanoseconds, string? detail = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(durationNanoseconds);
        lock (_events)
        {
            if (!_tracks.TryGetValue(track, out int id))
            {
                id = FirstTrackId + _tracks.Count;
                _tracks.Add(track, id);
                _threads.Add(id, track);
            }
            _events.Add(new TraceEvent(name, category, id, startNanoseconds, durationNanoseconds, detail));
        }
    }

    private void Record(string name, string category, string? detail, long start, long end)
    {
        var thread = Environment.CurrentManagedThreadId;
        long startNs = Nanoseconds(start - _origin);
        // End and start are converted alike, so nested spans stay nested after the conversion.
        long durationNs = Nanoseconds(end - _origin) - startNs;
        lock (_events)
        {
            _events.Add(new TraceEvent(name, category, thread, startNs, durationNs, detail));
            _threads.TryAdd(thread, Thread.CurrentThread.Name ?? (thread == 1 ? "main" : $"worker {thread}"));
        }
    }

    /// <summary>Writes the trace to <paramref name="path"/> (through a temporary file, then a rename).</summary>
    public void Write(string path)
    {
        string temporary = path + ".partial";
        using (var stream = File.Create(temporary))
        using (var json = new Utf8JsonWriter(stream))
        {
            json.WriteStartObject();
            json.WriteString("displayTimeUnit", "ms");
            json.WriteStartArray("traceEvents");
            lock (_events)
            {
                foreach (var (thread, name) in _threads)
                {
                    json.WriteStartObject();
                    json.WriteString("ph", "M");
                    json.WriteString("name", "thread_name");
                    json.WriteNumber("pid", 1);
                    json.WriteNumber("tid", thread);
                    json.WriteStartObject("args");
                    json.WriteString("name", name);
                    json.WriteEndObject();
                    json.WriteEndObject();
                }
                foreach (var e in _events)
                {
                    json.WriteStartObject();
                    json.WriteString("ph", "X");
                    json.WriteString("name", e.Name);
                    json.WriteString("cat", e.Category);
                    json.WriteNumber("pid", 1);
                    json.WriteNumber("tid", e.Thread);
                    json.WriteNumber("ts", e.StartNanoseconds / 1000.0);
                    json.WriteNumber("dur", e.DurationNanoseconds / 1000.0);
                    if (e.Detail != null)
                    {
                        json.WriteStartObject("args");
                        json.WriteString("detail", e.Detail);
                        json.WriteEndObject();
                    }
                    json.WriteEndObject();
                }
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        File.Move(temporary, path, overwrite: true);
    }

    private static long Nanoseconds(long ticks) => (long)((Int128)ticks * 1_000_000_000 / Stopwatch.Frequency);

    /// <summary>An open span.</summary>
    public readonly struct Span : IDisposable
    {
        private readonly ProfileTrace? _trace;
        private readonly string _name, _category;
        private readonly string? _detail;
        private readonly long _start;

        internal Span(ProfileTrace trace, string name, string category, string? detail, long start)
        {
            _trace = trace;
            _name = name;
            _category = category;
            _detail = detail;
            _start = start;
        }

        /// <summary>Records the span, from its start to now; a default span (no trace) records nothing.</summary>
        public void Dispose() => _trace?.Record(_name, _category, _detail, _start, Stopwatch.GetTimestamp());
    }
}

/// <summary>One recorded span: integer nanoseconds since the trace began, so sums and unions of spans are exact.</summary>
public readonly record struct TraceEvent(string Name, string Category, int Thread, long StartNanoseconds, long DurationNanoseconds, string? Detail = null)
{
    /// <summary><c>StartNanoseconds + DurationNanoseconds</c>.</summary>
    public long EndNanoseconds => StartNanoseconds + DurationNanoseconds;
}

/// <summary>Null-safe span starts, so call sites stay one line whether or not a trace is being taken.</summary>
public static class ProfileTraceExtensions
{
    /// <summary>A span of <paramref name="trace"/> (see <see cref="ProfileTrace.Begin"/>), or a no-op span when it is null.</summary>
    public static ProfileTrace.Span Span(this ProfileTrace? trace, string name, string category, string? detail = null) =>
        trace?.Begin(name, category, detail) ?? default;
}
