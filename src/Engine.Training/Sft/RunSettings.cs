using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Engine.Training.Data;

namespace Engine.Training.Sft;

/// <summary>What a run was started with, as saved under <c>"run"</c> in each checkpoint's trainer_state.json: the
/// options (named as on the command line, dashes as underscores), the data (example count and a SHA-256 of the
/// tokenized examples, so a changed file, template or tokenizer is caught) and the model (its path, and a
/// SHA-256 of its config and of every tensor's name, dtype, shape and first and last 4 KiB). A resumed run must
/// match it, or it would not continue the same trajectory.</summary>
public static class RunSettings
{
    /// <summary>Settings that may differ on resume: they do not move the trajectory (the native trainer's sums
    /// do not depend on the thread count; the model is identified by its content, not where it lies).</summary>
    /// <summary>The rank count, zero stage and how the global batch is cut into micro-batches may change too: the
    /// optimizer state is re-sharded on restore, and the data of each step depends on the global batch alone
    /// (which must stay).</summary>
    private static readonly HashSet<string> MayChange = ["threads", "save_steps", "model_path", "batch_size", "grad_accum", "ranks", "zero_stage"];

    /// <summary>Settings the ranks of one job may hold differently: threads per rank, and where each machine
    /// keeps the model (its content is compared).</summary>
    public static readonly IReadOnlySet<string> MayDifferAcrossRanks = new HashSet<string> { "threads", "model_path" };

    private const int ModelSampleBytes = 4096;

    /// <summary>The settings of a run of <paramref name="o"/> on <paramref name="examples"/> from <paramref name="model"/>
    /// over <paramref name="ranks"/> ranks, as saved in each checkpoint.</summary>
    public static JsonObject Of(SftOptions o, IReadOnlyList<TokenizedExample> examples, ModelDirectory model, int ranks = 1, int zeroStage = 0) => new()
    {
        ["ranks"] = ranks,
        ["zero_stage"] = zeroStage,
        ["global_batch"] = (long)o.BatchSize * o.GradAccum * ranks,
        ["lr"] = o.AdamW.Lr,
        ["lr_schedule"] = SftOptionNames.Of(o.LrScheduleKind),
        ["warmup_ratio"] = o.WarmupRatio,
        ["epochs"] = o.Epochs,
        ["max_steps"] = o.MaxSteps,
        ["batch_size"] = o.BatchSize,
        ["grad_accum"] = o.GradAccum,
        ["seq_len"] = o.SeqLen,
        ["packing"] = SftOptionNames.Of(o.Packing),
        ["adam_beta1"] = o.AdamW.Beta1,
        ["adam_beta2"] = o.AdamW.Beta2,
        ["adam_eps"] = o.AdamW.Eps,
        ["weight_decay"] = o.AdamW.WeightDecay,
        ["max_grad_norm"] = o.AdamW.MaxGradNorm,
        ["seed"] = o.Seed,
        ["threads"] = o.Threads,
        ["save_steps"] = o.SaveSteps,
        ["data_examples"] = examples.Count,
        ["data_sha256"] = DataHash(examples),
        ["model_path"] = Path.GetFullPath(model.Path),
        ["model_sha256"] = ModelHash(model),
    };

    /// <summary>Throws an <see cref="EngineException"/> naming <paramref name="statePath"/> and the first setting
    /// that differs (saved vs now), unless it may change. A state without settings (written before they were
    /// recorded) and settings the state lacks are not checked.</summary>
    public static void CheckResume(string statePath, JsonObject? saved, JsonObject current)
    {
        if (saved == null) return;
        foreach (var (key, now) in current)
        {
            if (MayChange.Contains(key) || saved[key] is not { } was) continue;
            string a = was.ToJsonString(), b = now?.ToJsonString() ?? "null";
            if (a == b) continue;
            throw new EngineException($"{statePath}: {Describe(key)} was {Shorten(a)} when this checkpoint was saved, now {Shorten(b)}; " +
                "resume with the run's settings (only --threads, --save-steps, the rank count, --zero-stage and the split of the global batch " +
                "into --batch-size x --grad-accum x ranks may change) or choose another --out");
        }
    }

    /// <summary>What setting <paramref name="key"/> is, in the words of the command line, for the message refusing a resume.</summary>
    public static string Describe(string key) => key switch
    {
        "data_examples" => "the number of examples in --data",
        "data_sha256" => "the tokenized --data (sha256)",
        "model_sha256" => "--model (sha256 of its config and tensors)",
        "global_batch" => "the global batch (--batch-size x --grad-accum x ranks)",
        _ => "--" + key.Replace('_', '-'),
    };

    /// <summary><paramref name="json"/> cut to 20 characters (a JSON string keeps its quotes) for that message.</summary>
    public static string Shorten(string json) => json.Length > 20 && json.StartsWith('"') ? json[..17] + "...\"" : json;

    /// <summary>SHA-256 over each example's length, token ids and labels (int32, little-endian as on every
    /// platform .NET runs on).</summary>
    public static string DataHash(IReadOnlyList<TokenizedExample> examples)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> length = stackalloc byte[4];
        foreach (var e in examples)
        {
            BinaryPrimitives.WriteInt32LittleEndian(length, e.InputIds.Length);
            hash.AppendData(length);
            hash.AppendData(MemoryMarshal.AsBytes(e.InputIds.AsSpan()));
            hash.AppendData(MemoryMarshal.AsBytes(e.Labels.AsSpan()));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>SHA-256 over config.json and, by tensor name, each tensor's name, dtype, shape and first and last
    /// 4 KiB: cheap on a model of any size, and different for any two trained models.</summary>
    public static string ModelHash(ModelDirectory model)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(model.Config?.Root.ToJsonString() ?? ""));
        var sample = new byte[ModelSampleBytes];
        foreach (var t in model.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            hash.AppendData(Encoding.UTF8.GetBytes($"{t.Name}\0{t.Info.DType}\0{string.Join(',', t.Info.Shape)}\0"));
            int head = (int)Math.Min(ModelSampleBytes, t.Info.ByteLength);
            t.File.ReadBytes(t.Info, 0, sample.AsSpan(0, head));
            hash.AppendData(sample.AsSpan(0, head));
            t.File.ReadBytes(t.Info, t.Info.ByteLength - head, sample.AsSpan(0, head));
            hash.AppendData(sample.AsSpan(0, head));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
