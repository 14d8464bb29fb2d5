using System.Text;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Safetensors;
using Engine.Merge.Config;
using Engine.Training.Data;
using Engine.Training.Tokenization;

namespace Engine.Fuzz;

/// <summary>The fuzz targets: each takes arbitrary bytes as one input file of a parser and runs the parser the
/// way the engine does. An <see cref="EngineException"/> is the expected answer to bad input; any other
/// exception, a hang or a crash is a finding. Files live in a scratch directory (tmpfs where there is one).</summary>
public sealed class FuzzTargets : IDisposable
{
    public static readonly string[] Names = ["safetensors", "index", "merge-yaml", "sft-jsonl", "tokenizer-json"];

    private readonly string _root;

    public FuzzTargets()
    {
        string scratch = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        _root = Path.Combine(scratch, $"engine-fuzz-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_root);
        WriteModel(Path.Combine(_root, "model"), tokenizer: true);
        WriteModel(Path.Combine(_root, "indexed"), tokenizer: false);
    }

    /// <summary>Runs <paramref name="target"/> on <paramref name="input"/>; returns normally for accepted input
    /// and for a clean <see cref="EngineException"/>, and lets every other exception out.</summary>
    public void Run(string target, byte[] input)
    {
        try
        {
            switch (target)
            {
                case "safetensors": Safetensors(input); break;
                case "index": Index(input); break;
                case "merge-yaml": MergeYaml(input); break;
                case "sft-jsonl": SftJsonl(input); break;
                case "tokenizer-json": TokenizerJsonFile(input); break;
                default: throw new ArgumentException($"unknown fuzz target '{target}'; known: {string.Join(", ", Names)}");
            }
        }
        catch (EngineException)
        {
            // The engine's one-line error for bad input: the expected outcome.
        }
    }

    /// <summary>A safetensors file: header, offsets, then every tensor read.</summary>
    private void Safetensors(byte[] input)
    {
        string path = Path.Combine(_root, "input.safetensors");
        File.WriteAllBytes(path, input);
        using var file = SafetensorsFile.Open(path);
        foreach (var tensor in file.Tensors)
        {
            using var bytes = file.Read(tensor);
        }
    }

    /// <summary>A <c>model.safetensors.index.json</c> beside two valid shards.</summary>
    private void Index(byte[] input)
    {
        string dir = Path.Combine(_root, "indexed");
        File.WriteAllBytes(Path.Combine(dir, ModelDirectory.IndexFileName), input);
        using var model = ModelDirectory.Open(dir);
    }

    private void MergeYaml(byte[] input)
    {
        string path = Path.Combine(_root, "merge.yml");
        File.WriteAllBytes(path, input);
        MergeConfigReader.Load(path);
    }

    /// <summary>A JSONL data file, every format (alpaca, sharegpt, messages, pre-tokenized) through the qwen
    /// template and the fixture's byte-level BPE tokenizer.</summary>
    private void SftJsonl(byte[] input)
    {
        string path = Path.Combine(_root, "data.jsonl");
        File.WriteAllBytes(path, input);
        SftDataset.Load(path, Path.Combine(_root, "model"), new DatasetOptions());
    }

    /// <summary>A <c>tokenizer.json</c>, loaded and used on a fixed text with special tokens in it.</summary>
    private void TokenizerJsonFile(byte[] input)
    {
        string dir = Path.Combine(_root, "tokenizer");
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, "tokenizer.json"), input);
        var tokenizer = ModelTokenizer.Load(dir, 1 << 20);
        var ids = tokenizer.Encode("<|im_start|>user\nHello, wörld 123!<|im_end|>\n");
        tokenizer.Decode(ids);
    }

    private static void WriteModel(string dir, bool tokenizer)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), new JsonObject { ["model_type"] = "qwen2", ["vocab_size"] = 1024 }.ToJsonString());
        if (tokenizer) File.Copy(Path.Combine(AppContext.BaseDirectory, "fixtures", "tokenizer.json"), Path.Combine(dir, "tokenizer.json"));
        else
        {
            WriteShard(Path.Combine(dir, "a.safetensors"), "x");
            WriteShard(Path.Combine(dir, "b.safetensors"), "y");
        }
    }

    /// <summary>A shard holding one float32 tensor of two elements.</summary>
    private static void WriteShard(string path, string tensor)
    {
        var header = Encoding.UTF8.GetBytes($"{{\"{tensor}\":{{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}}}");
        using var stream = File.Create(path);
        stream.Write(BitConverter.GetBytes((ulong)header.Length));
        stream.Write(header);
        stream.Write(new byte[8]);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
