using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Engine.Training.Data;
using Engine.Training.Sft;
using Engine.Training.Tokenization;

namespace Engine.Training.Synthetic;

/// <summary>The embedded experiment's backbone: a tiny Qwen2 with the byte-level tokenizer (<see cref="ByteTokenizer"/>:
/// no tokenizer.json, vocab_size 259), drawn from a seeded random init and pre-trained by <see cref="SftTrainer"/> on
/// the <see cref="GeneralMixture"/>. Work happens in <c>MODEL.work/</c> beside the model (the init, the mixture and
/// the run's checkpoints, so a killed run resumes); the finished model is renamed into place with a
/// <see cref="MarkerFile"/> naming its size and seed, and a later call with the same key reuses it.</summary>
internal static class SyntheticBackbone
{
    /// <summary>Written last into a finished backbone: what it was built from.</summary>
    public const string MarkerFile = "synthetic_backbone.json";

    /// <summary>Bumped whenever the init, the mixture or the pre-training change, so stale caches are not reused.</summary>
    private const int Version = 2;

    /// <summary>The folder beside <paramref name="modelDir"/> that pre-training works in (init, mixture, checkpoints).</summary>
    private static string WorkPath(string modelDir) => modelDir + ".work";

    /// <summary>The folder beside <paramref name="modelDir"/> the finished model is assembled in before its rename.</summary>
    private static string StagingPath(string modelDir) => modelDir + ".staging";

    /// <summary>Every folder pre-training into <paramref name="modelDir"/> writes: the model, its work and staging folders.</summary>
    public static IReadOnlyList<string> Folders(string modelDir)
    {
        modelDir = Path.GetFullPath(modelDir).TrimEnd('/');
        return [modelDir, WorkPath(modelDir), StagingPath(modelDir)];
    }

    public static string Pretrain(string modelDir, ExperimentSize size, int seed, int threads, IProgress<SftStepMetrics>? progress, CancellationToken cancellation)
    {
        modelDir = Path.GetFullPath(modelDir).TrimEnd('/');
        var key = Key(size, seed);
        if (IsFinished(modelDir, size, seed)) return modelDir;
        string work = WorkPath(modelDir);
        string init = Path.Combine(work, "init");
        if (!File.Exists(Path.Combine(init, "config.json"))) WriteInit(init, size, seed);
        string data = Path.Combine(work, "general.jsonl");
        var random = new Random(seed);
        var mixture = new GeneralMixture();
        ChatJsonl.Write(data, Enumerable.Range(0, size.PretrainRows).Select(_ => mixture.Next(random)));
        var examples = SftDataset.Load(data, init, new DatasetOptions()).Examples;
        string run = Path.Combine(work, "run");
        var options = size.PretrainOptions(seed, threads);
        // Only the newest checkpoint is needed to resume: older ones are removed as training passes them (the trainer
        // reports a step before it saves, on this thread, so no checkpoint is being written meanwhile).
        var pruning = new SynchronousProgress<SftStepMetrics>(m =>
        {
            if (m.Step % options.SaveSteps == 1) RemoveOlderCheckpoints(run);
            progress?.Report(m);
        });
        var result = SftTrainer.Run(init, examples, run, options, resume: true, pruning, cancellation);
        Publish(result.FinalCheckpoint, modelDir, key);
        Directory.Delete(work, recursive: true);
        return modelDir;
    }

    /// <summary>Whether <paramref name="modelDir"/> holds the finished backbone of this size and seed (false when it does
    /// not exist); a directory holding anything else is an <see cref="EngineException"/> naming it.</summary>
    public static bool IsFinished(string modelDir, ExperimentSize size, int seed)
    {
        modelDir = Path.GetFullPath(modelDir).TrimEnd('/');
        if (!Directory.Exists(modelDir))
        {
            if (File.Exists(modelDir)) throw new EngineException($"{modelDir}: is a file, not a backbone directory");
            return false;
        }
        var key = Key(size, seed);
        string marker = Path.Combine(modelDir, MarkerFile);
        if (!File.Exists(marker))
            throw new EngineException($"{modelDir}: exists but is not a finished synthetic backbone (no {MarkerFile}); choose another directory");
        string text = File.ReadAllText(marker);
        JsonNode? built;
        try
        {
            built = JsonNode.Parse(text);
        }
        catch (JsonException e)
        {
            throw new EngineException($"{marker}: not a backbone marker ({e.Message.Split('\n')[0]}); choose another directory");
        }
        if (JsonNode.DeepEquals(built, key)) return true;
        throw new EngineException($"{modelDir}: holds a backbone built with other settings ({marker}: {text.Trim()}, wanted {key.ToJsonString()}); choose another directory");
    }

    /// <summary>What a finished backbone was built from; a cached one is reused only when this matches.</summary>
    public static JsonObject Key(ExperimentSize size, int seed) => new()
    {
        ["version"] = Version,
        ["size"] = size.Name,
        ["seed"] = seed,
        ["shape"] = $"{size.HiddenSize}x{size.IntermediateSize}x{size.Layers}/{size.Heads}/{size.KeyValueHeads}",
        ["pretrain_rows"] = size.PretrainRows,
        ["pretrain_lr"] = size.PretrainLr,
        ["pretrain_weight_decay"] = ExperimentSize.PretrainWeightDecay,
    };

    /// <summary>The seeded random init (normal weights of std 0.02, norms near 1: <see cref="SyntheticCheckpoint"/>) in
    /// float32, with the byte-level tokenizer's special ids in its config.</summary>
    private static void WriteInit(string dir, ExperimentSize size, int seed)
    {
        var spec = new SyntheticModelSpec(size.HiddenSize, size.IntermediateSize, size.Layers, size.Heads, size.KeyValueHeads,
            ExperimentSize.VocabSize, TiedEmbeddings: true, DType.F32);
        SyntheticCheckpoint.Write(dir, spec, (ulong)(uint)seed, expertSeed: null, overwrite: true);
        int endOfText = ByteTokenizer.AddedTokens["<|endoftext|>"], endOfTurn = ByteTokenizer.AddedTokens["<|im_end|>"];
        var config = spec.ConfigJson();
        (config["bos_token_id"], config["eos_token_id"]) = (endOfText, endOfTurn);
        var indented = new JsonSerializerOptions { WriteIndented = true };
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString(indented));
        File.WriteAllText(Path.Combine(dir, "generation_config.json"),
            new JsonObject { ["bos_token_id"] = endOfText, ["eos_token_id"] = endOfTurn }.ToJsonString(indented));
    }

    private static void RemoveOlderCheckpoints(string run)
    {
        string? newest = SftCheckpoints.Newest(run);
        if (newest is null) return;
        foreach (var (dir, _) in SftCheckpoints.List(run).Where(c => c.Dir != newest && File.Exists(Path.Combine(c.Dir, SftTrainer.StateFile))))
            Directory.Delete(dir, recursive: true);
    }

    /// <summary>Copies the checkpoint's model files (not its optimizer state or trainer state) into a staging
    /// sibling, writes the marker, and renames it to <paramref name="modelDir"/>.</summary>
    private static void Publish(string checkpoint, string modelDir, JsonObject key)
    {
        string staging = StagingPath(modelDir);
        if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        Directory.CreateDirectory(staging);
        foreach (var file in Directory.GetFiles(checkpoint).Where(f => Path.GetFileName(f) != SftTrainer.StateFile))
            File.Copy(file, Path.Combine(staging, Path.GetFileName(file)));
        File.WriteAllText(Path.Combine(staging, MarkerFile), key.ToJsonString());
        Directory.Move(staging, modelDir);
    }
}
