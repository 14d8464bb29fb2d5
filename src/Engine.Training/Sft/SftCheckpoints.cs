using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Numerics;
using Engine.Core.Safetensors;
using Engine.Interop.Posix;
using Engine.Training.Distributed;

namespace Engine.Training.Sft;

/// <summary>Checkpoints <c>OUT/checkpoint-STEP</c>: a complete HF directory in the input model's dtype (rank 0),
/// plus <c>optimizer/params.f32</c> (the float32 parameters, rank 0), <c>optimizer/adam_m.rankR.f32</c> and
/// <c>adam_v.rankR.f32</c> (AdamW's moments: one file per rank at ZeRO stage 1, rank 0's full copy at stage 0)
/// and <c>trainer_state.json</c> (step, total steps, parameter count, rank count, zero stage, each moment file's
/// range of the flat buffer, and the run's <see cref="RunSettings"/>). The directory is built in a staging
/// sibling that every rank writes into, and renamed into place by rank 0 once all ranks have flushed their
/// files, so a kill at any moment leaves the newest complete checkpoint as it was. Restoring reads each rank's
/// own range from whichever files hold it, so a run may resume with another rank count or zero stage.</summary>
public static class SftCheckpoints
{
    /// <summary>The trainer state in a checkpoint folder, written last: a checkpoint without it is incomplete.</summary>
    public const string StateFile = "trainer_state.json";
    private const string Prefix = "checkpoint-";
    private const int Piece = 1 << 22;

    /// <summary>Checkpoints written before the optimizer state was sharded: chunks of this many elements.</summary>
    private const int LegacyChunk = 1 << 28;

    private static readonly (ModelBuffer Buffer, string Name)[] Moments = [(ModelBuffer.AdamFirstMoment, "adam_m"), (ModelBuffer.AdamSecondMoment, "adam_v")];

    /// <summary>The checkpoint with the highest step under <paramref name="outDir"/>, or null. Only complete ones
    /// count: a checkpoint appears under its name only once fully written.</summary>
    public static string? Newest(string outDir) =>
        List(outDir).Where(c => File.Exists(Path.Combine(c.Dir, StateFile))).OrderByDescending(c => c.Step).Select(c => c.Dir).FirstOrDefault();

    /// <summary>Every <c>checkpoint-STEP</c> folder under <paramref name="outDir"/> with its step, complete or not, in no order.</summary>
    public static IEnumerable<(string Dir, long Step)> List(string outDir)
    {
        if (!Directory.Exists(outDir)) return [];
        return Directory.GetDirectories(outDir, Prefix + "*")
            .Select(d => (Dir: d, Ok: long.TryParse(Path.GetFileName(d)[Prefix.Length..], NumberStyles.None, CultureInfo.InvariantCulture, out long s), Step: s))
            .Where(c => c.Ok)
            .Select(c => (c.Dir, c.Step));
    }

    /// <summary>Writes checkpoint <paramref name="step"/>; every rank calls it at the same step.</summary>
    public static string Save(Qwen2Model model, ModelDirectory source, string outDir, long step, long total, JsonObject settings,
        TrainingWorld world, DataParallelOptimizer optimizer)
    {
        string target = Path.Combine(outDir, $"{Prefix}{step}");
        using var writer = world.Rank == 0 ? CreateModelWriter(model, source, target) : null;
        string staging = world.Broadcast(writer?.StagingPath ?? "");
        bool ownsShard = optimizer.ZeroStage == 1 || world.Rank == 0;
        if (ownsShard)
        {
            foreach (var (buffer, name) in Moments)
                WriteRange(model, buffer, Path.Combine(staging, "optimizer", ShardFile(name, world.Rank)), optimizer.ShardOffset, optimizer.ShardCount);
        }
        if (writer != null)
        {
            WriteRange(model, ModelBuffer.Parameters, Path.Combine(staging, "optimizer", "params.f32"), 0, model.ParameterCount);
            var shards = new JsonArray();
            for (int r = 0; r < optimizer.Layout.Ranks; r++) shards.Add(new JsonArray(optimizer.Layout.Offset(r), optimizer.Layout.Count(r)));
            var state = new JsonObject
            {
                ["step"] = step, ["total_steps"] = total, ["parameters"] = model.ParameterCount, ["ranks"] = world.Size,
                ["zero_stage"] = optimizer.ZeroStage, ["optimizer_shards"] = shards, ["run"] = settings.DeepClone(),
            };
            writer.WriteFile(StateFile, Encoding.UTF8.GetBytes(state.ToJsonString()));
        }
        // Every rank's files are on disk before rank 0 publishes the directory.
        world.Barrier();
        if (writer != null)
        {
            PosixFileSystem.TrySyncDirectory(Path.Combine(staging, "optimizer"));
            writer.Commit();
        }
        world.Barrier();
        return target;
    }

    /// <summary>Loads the float32 parameters and this rank's range of the AdamW moments from
    /// <paramref name="checkpoint"/> into <paramref name="model"/> (created with the run's config and optimizer
    /// range); returns the checkpoint's step. The run's settings must match the saved ones.</summary>
    public static long Restore(Qwen2Model model, string checkpoint, JsonObject settings)
    {
        string statePath = Path.Combine(checkpoint, StateFile);
        JsonObject state;
        try
        {
            state = JsonNode.Parse(File.ReadAllText(statePath)) as JsonObject ?? throw new EngineException($"{statePath}: not a JSON object");
        }
        catch (JsonException e)
        {
            throw new EngineException($"{statePath}: not valid JSON ({e.Message})");
        }
        long step = state["step"]?.GetValue<long>() ?? throw new EngineException($"{statePath}: no 'step'");
        RunSettings.CheckResume(statePath, state["run"] as JsonObject, settings);
        long expected = state["parameters"]?.GetValue<long>() ?? -1;
        if (expected != model.ParameterCount)
            throw new EngineException($"{statePath}: {expected} parameters saved, the model has {model.ParameterCount}");
        string dir = Path.Combine(checkpoint, "optimizer");
        bool sharded = state["optimizer_shards"] is JsonArray;
        var parameters = sharded ? [(Path.Combine(dir, "params.f32"), 0L, model.ParameterCount)] : LegacyFiles(dir, "params", model.ParameterCount);
        ReadRange(model, ModelBuffer.Parameters, parameters, 0, model.ParameterCount);
        var (offset, count) = model.OptimizerRange;
        foreach (var (buffer, name) in Moments)
        {
            var files = sharded ? ShardFiles(statePath, dir, name, (JsonArray)state["optimizer_shards"]!, model.ParameterCount) : LegacyFiles(dir, name, model.ParameterCount);
            ReadRange(model, buffer, files, offset, offset + count);
        }
        return step;
    }

    /// <summary>Refuses, or with <paramref name="overwrite"/> deletes, the checkpoints and metrics log of a previous
    /// run in <paramref name="outDir"/>; a later --resume must never pick up a stale checkpoint.</summary>
    public static void ClearPreviousRun(string outDir, bool overwrite)
    {
        var checkpoints = List(outDir).OrderBy(c => c.Step).Select(c => c.Dir).ToList();
        string metrics = Path.Combine(outDir, MetricsLog.FileName);
        if (checkpoints.Count == 0 && !File.Exists(metrics)) return;
        if (!overwrite)
        {
            string what = checkpoints.Count > 0 ? Path.GetFileName(checkpoints[^1]) : MetricsLog.FileName;
            throw new EngineException($"{outDir}: holds a previous run ({what}); pass --resume to continue it, " +
                "--overwrite-output-dir to delete it and start over, or choose another --out");
        }
        foreach (var dir in checkpoints) Directory.Delete(dir, recursive: true);
        File.Delete(metrics);
    }

    private static string ShardFile(string name, int rank) => $"{name}.rank{rank:D5}.f32";

    private static ShardWriter CreateModelWriter(Qwen2Model model, ModelDirectory source, string target)
    {
        var embedding = source.GetTensor(ModelDirectory.EmbeddingName).Info.DType;
        var dtype = embedding is DType.BF16 or DType.F16 ? embedding : DType.F32;
        var specs = model.Parameters.Select(p => new TensorSpec(p.Name, dtype, p.Shape)).ToList();
        var writer = ShardWriter.Create(target, specs, new ShardWriterOptions(overwrite: true));
        try
        {
            foreach (var p in model.Parameters)
            {
                var values = new float[p.Count];
                model.ReadBuffer(ModelBuffer.Parameters, values, p.Offset);
                var bytes = new byte[p.Count * dtype.SizeOf()];
                DTypeConversion.FromSingle(values, dtype, bytes);
                writer.WriteTensor(p.Name, bytes);
            }
            var config = source.Config?.WithDType(dtype) ?? throw new ModelDirectoryException($"{source.Path}: no config.json");
            writer.WriteFile("config.json", Encoding.UTF8.GetBytes(config.ToJsonString(new JsonSerializerOptions { WriteIndented = true })));
            // A model that is itself a checkpoint of another run carries that run's trainer state: this run writes its own.
            foreach (var file in source.OtherFiles.Where(f => f != StateFile)) writer.CopyFile(Path.Combine(source.Path, file), file);
            return writer;
        }
        catch
        {
            writer.Dispose();
            throw;
        }
    }

    /// <summary>Writes elements [offset, offset + count) of a flat buffer as raw float32 and flushes them to disk.</summary>
    private static void WriteRange(Qwen2Model model, ModelBuffer buffer, string path, long offset, long count)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var piece = new float[(int)Math.Min(Piece, Math.Max(1, count))];
        try
        {
            using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
            for (long at = 0; at < count; at += Piece)
            {
                int n = (int)Math.Min(Piece, count - at);
                model.ReadBuffer(buffer, piece.AsSpan(0, n), offset + at);
                stream.Write(MemoryMarshal.AsBytes(piece.AsSpan(0, n)));
            }
            stream.Flush(flushToDisk: true);
        }
        catch (IOException e)
        {
            throw new OutputException($"{path}: writing the checkpoint failed: {e.Message}", e);
        }
    }

    /// <summary>Fills elements [lo, hi) of a flat buffer from the files that hold them (each file: raw float32 of
    /// its range); every element must be covered.</summary>
    private static void ReadRange(Qwen2Model model, ModelBuffer buffer, IReadOnlyList<(string File, long Offset, long Count)> files, long lo, long hi)
    {
        long covered = 0;
        var piece = new float[(int)Math.Min(Piece, Math.Max(1, hi - lo))];
        foreach (var (file, offset, count) in files)
        {
            long from = Math.Max(lo, offset), to = Math.Min(hi, offset + count);
            if (from >= to) continue;
            using var stream = OpenState(file, count);
            stream.Position = (from - offset) * sizeof(float);
            for (long at = from; at < to; at += Piece)
            {
                int n = (int)Math.Min(Piece, to - at);
                stream.ReadExactly(MemoryMarshal.AsBytes(piece.AsSpan(0, n)));
                model.WriteBuffer(buffer, piece.AsSpan(0, n), at);
            }
            covered += to - from;
        }
        if (covered != hi - lo)
            throw new EngineException($"{Path.GetDirectoryName(files.FirstOrDefault().File)}: the saved state covers {covered} of the {hi - lo} elements this rank needs");
    }

    private static FileStream OpenState(string file, long count)
    {
        if (!File.Exists(file)) throw new EngineException($"{file}: missing from the checkpoint");
        var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        if (stream.Length != count * sizeof(float))
        {
            stream.Dispose();
            throw new EngineException($"{file}: {stream.Length} bytes, expected {count * sizeof(float)}");
        }
        return stream;
    }

    private static List<(string, long, long)> ShardFiles(string statePath, string dir, string name, JsonArray shards, long total)
    {
        var files = new List<(string, long, long)>();
        for (int r = 0; r < shards.Count; r++)
        {
            if (shards[r] is not JsonArray { Count: 2 } range || range[0]?.GetValue<long>() is not { } offset || range[1]?.GetValue<long>() is not { } count
                || offset < 0 || count < 0 || offset > total - count)
                throw new EngineException($"{statePath}: optimizer_shards[{r}] is not an [offset, count] range of the {total} parameters");
            string file = Path.Combine(dir, ShardFile(name, r));
            if (count > 0 && File.Exists(file)) files.Add((file, offset, count));
        }
        return files;
    }

    private static List<(string, long, long)> LegacyFiles(string dir, string name, long total)
    {
        var files = new List<(string, long, long)>();
        for (long offset = 0, k = 0; offset < total; offset += LegacyChunk, k++)
            files.Add((Path.Combine(dir, $"{name}-{k:D5}.f32"), offset, Math.Min(LegacyChunk, total - offset)));
        return files;
    }
}
