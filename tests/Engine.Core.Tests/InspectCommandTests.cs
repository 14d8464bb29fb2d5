using System.Text.Json.Nodes;
using Engine.Core.Model;
using Engine.Testing;

namespace Engine.Core.Tests;

/// <summary><c>engine inspect PATH [--json]</c> run as a process, on a sharded directory and on one file.</summary>
public sealed class InspectCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string WriteTiny(long maxShardBytes)
    {
        string path = _dir.Combine("tiny");
        SyntheticCheckpoint.Write(path, SyntheticModelSpec.Tiny, 7, null, maxShardBytes: maxShardBytes);
        return path;
    }

    private static JsonObject RunJson(string path)
    {
        var r = EngineProcess.Run("inspect", path, "--json");
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Stderr}");
        Assert.Equal("", r.Stderr);
        return JsonNode.Parse(r.Stdout)!.AsObject();
    }

    [Fact]
    public void JsonReportOfAShardedDirectoryListsEveryTensorAndTheConfig()
    {
        string path = WriteTiny(maxShardBytes: 100_000);
        var report = RunJson(path);
        using var model = ModelDirectory.Open(path);
        var tiny = SyntheticModelSpec.Tiny;

        Assert.Equal(path, report["path"]!.GetValue<string>());
        Assert.True(model.Shards.Count > 1);
        Assert.Equal(model.Shards.Count, report["shards"]!.GetValue<int>());
        Assert.Equal(tiny.Tensors().Count, report["tensors"]!.GetValue<int>());
        Assert.Equal(tiny.Tensors().Sum(t => t.ByteLength), report["bytes"]!.GetValue<long>());
        Assert.Equal(tiny.Tensors().Sum(t => t.ByteLength / 2), report["elements"]!.GetValue<long>());
        Assert.True(report["lm_head_tied"]!.GetValue<bool>());
        Assert.Equal(["generation_config.json", "tokenizer_config.json"], report["other_files"]!.AsArray().Select(f => f!.GetValue<string>()));

        var config = report["config"]!;
        Assert.Equal("Qwen2ForCausalLM", config["architecture"]!.GetValue<string>());
        Assert.Equal("qwen2", config["model_type"]!.GetValue<string>());
        Assert.Equal(tiny.HiddenSize, config["hidden_size"]!.GetValue<int>());
        Assert.Equal(tiny.IntermediateSize, config["intermediate_size"]!.GetValue<int>());
        Assert.Equal(tiny.Layers, config["num_hidden_layers"]!.GetValue<int>());
        Assert.Equal(tiny.Heads, config["num_attention_heads"]!.GetValue<int>());
        Assert.Equal(tiny.KvHeads, config["num_key_value_heads"]!.GetValue<int>());
        Assert.Equal(tiny.VocabSize, config["vocab_size"]!.GetValue<int>());
        Assert.True(config["tie_word_embeddings"]!.GetValue<bool>());
        Assert.Equal("bfloat16", config["torch_dtype"]!.GetValue<string>());

        var list = report["tensor_list"]!.AsArray();
        Assert.Equal(model.Tensors.Count, list.Count);
        for (int i = 0; i < list.Count; i++)
        {
            var t = model.Tensors[i];
            var e = list[i]!;
            Assert.Equal(t.Name, e["name"]!.GetValue<string>());
            Assert.Equal("BF16", e["dtype"]!.GetValue<string>());
            Assert.Equal(t.Info.Shape.ToArray(), e["shape"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray());
            Assert.Equal(t.Info.ByteLength, e["bytes"]!.GetValue<long>());
            Assert.Equal(Path.GetFileName(t.File.Path), e["shard"]!.GetValue<string>());
        }
        Assert.Equal(tiny.Tensors().Select(t => t.Name).Order(StringComparer.Ordinal), list.Select(e => e!["name"]!.GetValue<string>()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void JsonReportOfASingleFileHasNoConfig()
    {
        string file = Path.Combine(WriteTiny(ShardWriterOptions.DefaultMaxShardBytes), "model.safetensors");
        var report = RunJson(file);
        Assert.Equal(file, report["path"]!.GetValue<string>());
        Assert.Equal(1, report["shards"]!.GetValue<int>());
        Assert.Equal(SyntheticModelSpec.Tiny.Tensors().Count, report["tensors"]!.GetValue<int>());
        Assert.Null(report["config"]);
        Assert.Empty(report["other_files"]!.AsArray());
        Assert.True(report["lm_head_tied"]!.GetValue<bool>()); // no config: transformers' default, tied
        Assert.All(report["tensor_list"]!.AsArray(), e => Assert.Equal("model.safetensors", e!["shard"]!.GetValue<string>()));
    }

    [Fact]
    public void TableReportNamesTensorsTotalsAndConfig()
    {
        var r = EngineProcess.Run("inspect", WriteTiny(ShardWriterOptions.DefaultMaxShardBytes));
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("model.embed_tokens.weight", r.Stdout);
        Assert.Contains($"{SyntheticModelSpec.Tiny.Tensors().Count} tensors", r.Stdout);
        Assert.Contains("in 1 shard(s)", r.Stdout);
        Assert.Contains("config: Qwen2ForCausalLM, hidden 64", r.Stdout);
    }
}
