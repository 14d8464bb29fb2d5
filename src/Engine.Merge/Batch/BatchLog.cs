using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;

namespace Engine.Merge.Batch;

/// <summary>The job log of a batch, <c>ROOT/batch-log.jsonl</c>: one JSON record per line, appended as the batch runs
/// (<c>batch</c> when a run starts, <c>job_started</c>, <c>tensor</c> for each tensor written into a job's staging
/// directory, <c>job_finished</c> once the job's output is published and flushed, <c>batch_failed</c> with the error that stopped a run). A job counts as
/// finished for <c>--resume</c> only by a <c>job_finished</c> record with the job's current <see cref="KeyOf">key</see>
/// and its output in place: an output is published whole by one rename, so such a job needs no redoing, and a job
/// without that record is recomputed from its start (its tensors were written into a staging directory that a kill
/// leaves incomplete, and no tensor of it is trusted). The log is held by a lock beside it: one batch per root at a time.</summary>
public sealed class BatchLog : IDisposable
{
    /// <summary>The log's file name under the output root.</summary>
    public const string FileName = "batch-log.jsonl";

    private readonly OutputLock _lock;
    private readonly FileStream _file;
    private readonly Lock _gate = new();

    private BatchLog(string path, OutputLock held, FileStream file)
    {
        Path = path;
        _lock = held;
        _file = file;
    }

    /// <summary>The job log file under the output root.</summary>
    public string Path { get; }

    /// <summary>Opens (creating the root and the file when needed) the log of <paramref name="root"/> for appending.</summary>
    public static BatchLog Open(string root)
    {
        Directory.CreateDirectory(root);
        string path = System.IO.Path.Combine(root, FileName);
        var held = OutputLock.Acquire(path);
        try
        {
            return new BatchLog(path, held, new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read));
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    /// <summary>The jobs the log at <paramref name="root"/> records as finished: name to key. A last line cut short by
    /// a kill is ignored; any other line that is not a record is an error naming the line.</summary>
    public static IReadOnlyDictionary<string, string> Finished(string root)
    {
        string path = System.IO.Path.Combine(root, FileName);
        var finished = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!File.Exists(path)) return finished;
        var lines = File.ReadAllLines(path);
        for (int i = 0; i < lines.Length; i++)
        {
            JsonObject record;
            try
            {
                record = JsonNode.Parse(lines[i]) as JsonObject ?? throw new JsonException("a record is one JSON object");
            }
            catch (JsonException) when (i == lines.Length - 1)
            {
                break;
            }
            catch (JsonException e)
            {
                throw new EngineException($"{path}:{i + 1}: not a job log record ({e.Message.Split('\n')[0]})");
            }
            if (Text(record, "event") is "job_finished" && Text(record, "job") is { } job && Text(record, "key") is { } key)
                finished[job] = key;
            else if (Text(record, "event") is "job_started" && Text(record, "job") is { } started)
                finished.Remove(started);
        }
        return finished;

        // A field that is not a string (a record edited by hand) makes the record no finished job, not a crash.
        static string? Text(JsonObject record, string key) => record[key] is JsonValue v && v.TryGetValue(out string? text) ? text : null;
    }

    /// <summary>What must not change for a finished output to stand for the job: the config's path and text (a sweep's
    /// value included), the output path and the shard size.</summary>
    public static string KeyOf(BatchJob job, long maxShardBytes)
    {
        var text = $"{System.IO.Path.GetFullPath(job.Config.Path)}\n{OutputPaths.Resolve(job.OutputPath)}\n{maxShardBytes}\n{job.Config.Text}";
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..16];
    }

    /// <summary>Appends one record; <paramref name="durable"/> flushes it to disk (job_finished, so that a published
    /// output is never forgotten after a power loss).</summary>
    public void Append(JsonObject record, bool durable = false)
    {
        var line = Encoding.UTF8.GetBytes(record.ToJsonString() + "\n");
        lock (_gate)
        {
            _file.Write(line);
            _file.Flush(durable);
        }
    }

    /// <summary>Closes the log file and releases the output root's lock, so another batch may use the root.</summary>
    public void Dispose()
    {
        _file.Dispose();
        _lock.Dispose();
    }
}
