using System.Collections.Immutable;
using System.Text;
using System.Text.Json.Nodes;
using Engine.Core.Model;
using Engine.Core.Safetensors;
using Engine.Testing;

namespace Engine.Core.Tests;

/// <summary>Model directories: the index checked against its shards, tied <c>lm_head</c>, config.json.</summary>
public sealed class ShardedDirectoryTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static TensorSpec Spec(string name, params long[] shape) => new(name, DType.F32, shape.ToImmutableArray());

    /// <summary>Three tensors (32, 8 and 24 bytes), plus a config: with the default 31-byte limit each gets a
    /// shard of its own; with 39 the last two share the second shard.</summary>
    private string WriteSharded(bool tied = true, long maxShardBytes = 31)
    {
        string target = _dir.Combine("model");
        var specs = new List<TensorSpec> { Spec(ModelDirectory.EmbeddingName, 4, 2), Spec("model.norm.weight", 2) };
        if (!tied) specs.Add(Spec(ModelDirectory.LmHeadName, 4, 2));
        specs.Add(Spec("model.layers.0.mlp.up_proj.weight", 3, 2));
        using var writer = ShardWriter.Create(target, specs, new ShardWriterOptions(maxShardBytes));
        foreach (var s in specs)
        {
            var values = Enumerable.Range(0, (int)TensorInfo.ElementCountOf(s.Shape)).Select(i => (float)(i + s.Name.Length)).ToArray();
            writer.WriteTensor(s.Name, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        }
        var config = SyntheticModelSpec.Tiny.ConfigJson();
        config["tie_word_embeddings"] = tied;
        writer.WriteFile("config.json", Encoding.UTF8.GetBytes(config.ToJsonString()));
        writer.WriteFile("tokenizer.json", "{}"u8);
        writer.Commit();
        return target;
    }

    private static JsonObject ReadIndex(string dir) => JsonNode.Parse(File.ReadAllText(Path.Combine(dir, ModelDirectory.IndexFileName)))!.AsObject();

    private static void WriteIndex(string dir, JsonObject index) => File.WriteAllText(Path.Combine(dir, ModelDirectory.IndexFileName), index.ToJsonString());

    [Fact]
    public void ShardedDirectoryOpensWithEveryTensorInItsShard()
    {
        string dir = WriteSharded();
        using var model = ModelDirectory.Open(dir);
        Assert.Equal(3, model.Shards.Count);
        Assert.Equal(["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"], model.Shards.Select(s => Path.GetFileName(s.Path)));
        Assert.Equal([ModelDirectory.EmbeddingName, "model.norm.weight", "model.layers.0.mlp.up_proj.weight"], model.Tensors.Select(t => t.Name));
        Assert.Equal(["tokenizer.json"], model.OtherFiles);
        Assert.Equal(32 + 8 + 24, model.TotalBytes);
        Assert.Equal(64, ReadIndex(dir)["metadata"]!["total_size"]!.GetValue<long>());
    }

    [Fact]
    public void MissingShardIsReported()
    {
        string dir = WriteSharded();
        File.Delete(Path.Combine(dir, "model-00002-of-00003.safetensors"));
        var e = Assert.Throws<ModelDirectoryException>(() => ModelDirectory.Open(dir).Dispose());
        Assert.Equal($"{Path.Combine(dir, ModelDirectory.IndexFileName)}: shard 'model-00002-of-00003.safetensors' is missing", e.Message);
    }

    [Fact]
    public void TensorListedInTheWrongShardIsReported()
    {
        string dir = WriteSharded(maxShardBytes: 39);
        var index = ReadIndex(dir);
        index["weight_map"]!["model.norm.weight"] = "model-00001-of-00002.safetensors";
        WriteIndex(dir, index);
        var e = Assert.Throws<ModelDirectoryException>(() => ModelDirectory.Open(dir).Dispose());
        Assert.Contains("tensor 'model.norm.weight' is listed in 'model-00001-of-00002.safetensors' but found in 'model-00002-of-00002.safetensors'", e.Message);
    }

    [Fact]
    public void TensorListedButAbsentIsReported()
    {
        string dir = WriteSharded();
        var index = ReadIndex(dir);
        index["weight_map"]!["model.ghost"] = "model-00001-of-00003.safetensors";
        WriteIndex(dir, index);
        var e = Assert.Throws<ModelDirectoryException>(() => ModelDirectory.Open(dir).Dispose());
        Assert.Contains("tensor 'model.ghost' is listed in shard 'model-00001-of-00003.safetensors' but that shard does not hold it", e.Message);
    }

    [Fact]
    public void TensorInAShardButNotInTheIndexIsReported()
    {
        string dir = WriteSharded(maxShardBytes: 39);
        var index = ReadIndex(dir);
        index["weight_map"]!.AsObject().Remove("model.norm.weight");
        WriteIndex(dir, index);
        var e = Assert.Throws<ModelDirectoryException>(() => ModelDirectory.Open(dir).Dispose());
        Assert.Contains("shard 'model-00002-of-00002.safetensors' holds tensor 'model.norm.weight', which the weight_map does not list", e.Message);
    }

    [Fact]
    public void DuplicateWeightMapKeyIsReported()
    {
        string dir = WriteSharded();
        string text = File.ReadAllText(Path.Combine(dir, ModelDirectory.IndexFileName));
        text = text.Replace("\"weight_map\": {", "\"weight_map\": {\"model.norm.weight\": \"model-00002-of-00003.safetensors\",");
        File.WriteAllText(Path.Combine(dir, ModelDirectory.IndexFileName), text);
        var e = Assert.Throws<ModelDirectoryException>(() => ModelDirectory.Open(dir).Dispose());
        Assert.Contains("tensor 'model.norm.weight' is listed twice in weight_map", e.Message);
    }

    [Fact]
    public void TensorInTwoShardsIsReported()
    {
        string dir = WriteSharded();
        // Shard 3 replaced by a file holding the norm again: the index still names the shard, but two shards now hold it.
        var layout = SafetensorsLayout.Create([Spec("model.norm.weight", 2), Spec("model.layers.0.mlp.up_proj.weight", 3, 2)], SafetensorsLayout.PtMetadata);
        File.WriteAllBytes(Path.Combine(dir, "model-00003-of-00003.safetensors"), [.. layout.Prefix, .. new byte[layout.DataLength]]);
        var e = Assert.Throws<ModelDirectoryException>(() => ModelDirectory.Open(dir).Dispose());
        Assert.Contains("tensor 'model.norm.weight' appears in both model-00002-of-00003.safetensors and model-00003-of-00003.safetensors", e.Message);
    }

    [Theory]
    [InlineData("../escape.safetensors")]
    [InlineData("/etc/passwd")]
    public void ShardNameOutsideTheDirectoryIsReported(string shard)
    {
        string dir = WriteSharded();
        var index = ReadIndex(dir);
        index["weight_map"]!["model.norm.weight"] = shard;
        WriteIndex(dir, index);
        var e = Assert.Throws<ModelDirectoryException>(() => ModelDirectory.Open(dir).Dispose());
        Assert.Contains($"shard name '{shard}' is not a plain file name", e.Message);
    }

    [Theory]
    [InlineData("{\"metadata\": {}}", "no 'weight_map' object")]
    [InlineData("{\"weight_map\": {\"a\": 1}}", "weight_map entry 'a' is not a file name")]
    [InlineData("{\"weight_map\": {}}", "weight_map lists no tensors")]
    [InlineData("[]", "not a JSON object")]
    [InlineData("{\"weight_map\": ", "invalid JSON")]
    public void MalformedIndexIsReported(string json, string fragment)
    {
        string dir = WriteSharded();
        File.WriteAllText(Path.Combine(dir, ModelDirectory.IndexFileName), json);
        var e = Assert.Throws<ModelDirectoryException>(() => ModelDirectory.Open(dir).Dispose());
        Assert.StartsWith(Path.Combine(dir, ModelDirectory.IndexFileName) + ": ", e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void TiedLmHeadResolvesToTheEmbedding()
    {
        using var model = ModelDirectory.Open(WriteSharded(tied: true));
        Assert.True(model.LmHeadTiedToEmbedding);
        Assert.False(model.Contains(ModelDirectory.LmHeadName));
        var head = model.GetTensor(ModelDirectory.LmHeadName);
        Assert.Same(model.GetTensor(ModelDirectory.EmbeddingName), head);
        using var view = head.Read();
        Assert.Equal(32, view.Bytes.Length);
    }

    [Fact]
    public void UntiedLmHeadIsItsOwnTensor()
    {
        using var model = ModelDirectory.Open(WriteSharded(tied: false));
        Assert.False(model.LmHeadTiedToEmbedding);
        Assert.Equal(ModelDirectory.LmHeadName, model.GetTensor(ModelDirectory.LmHeadName).Name);
    }

    [Fact]
    public void MissingLmHeadWithUntiedConfigIsAnError()
    {
        string dir = WriteSharded(tied: true);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject();
        config["tie_word_embeddings"] = false;
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        using var model = ModelDirectory.Open(dir);
        Assert.False(model.LmHeadTiedToEmbedding);
        var e = Assert.Throws<ModelDirectoryException>(() => model.GetTensor(ModelDirectory.LmHeadName));
        Assert.Equal($"{dir}: no tensor 'lm_head.weight'", e.Message);
    }

    [Fact]
    public void ConfigIsReadIntoTheTypedView()
    {
        using var model = ModelDirectory.Open(WriteSharded());
        var c = model.Config!;
        var tiny = SyntheticModelSpec.Tiny;
        Assert.Equal("Qwen2ForCausalLM", c.Architecture);
        Assert.Equal("qwen2", c.ModelType);
        Assert.Equal(tiny.HiddenSize, c.HiddenSize);
        Assert.Equal(tiny.IntermediateSize, c.IntermediateSize);
        Assert.Equal(tiny.Layers, c.NumHiddenLayers);
        Assert.Equal(tiny.Heads, c.NumAttentionHeads);
        Assert.Equal(tiny.KvHeads, c.NumKeyValueHeads);
        Assert.Equal(tiny.VocabSize, c.VocabSize);
        Assert.Equal(4096, c.MaxPositionEmbeddings);
        Assert.Equal(1e-6, c.RmsNormEps);
        Assert.Equal(1e6, c.RopeTheta);
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(DType.BF16, c.TorchDType);
        Assert.Equal("float32", c.WithDType(DType.F32)["torch_dtype"]!.GetValue<string>());
        Assert.Equal("bfloat16", c.Root["torch_dtype"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("{}", null, null, true, null)]
    [InlineData("{\"architectures\": [], \"num_attention_heads\": 8, \"dtype\": \"float16\", \"tie_word_embeddings\": false}", null, 8, false, DType.F16)]
    [InlineData("{\"architectures\": [7], \"num_attention_heads\": 8.0, \"num_key_value_heads\": 2, \"torch_dtype\": \"int4\"}", null, 2, true, null)]
    [InlineData("{\"architectures\": [\"LlamaForCausalLM\"], \"torch_dtype\": \"torch.bfloat16\",}", "LlamaForCausalLM", null, true, DType.BF16)]
    public void ConfigToleratesAbsentAndOddOptionalFields(string json, string? architecture, int? kvHeads, bool tied, DType? dtype)
    {
        string path = _dir.Combine("config.json");
        File.WriteAllText(path, json);
        var c = ModelConfig.Load(path);
        Assert.Equal(architecture, c.Architecture);
        Assert.Equal(kvHeads, c.NumKeyValueHeads);
        Assert.Equal(tied, c.TieWordEmbeddings);
        Assert.Equal(dtype, c.TorchDType);
    }

    [Theory]
    [InlineData("[1]", "config.json is not a JSON object")]
    [InlineData("{\"hidden_size\": ", "invalid JSON")]
    [InlineData("{\"hidden_size\": -4}", "'hidden_size' must be a positive integer, found -4")]
    [InlineData("{\"vocab_size\": \"big\"}", "'vocab_size' must be a positive integer, found \"big\"")]
    [InlineData("{\"num_hidden_layers\": 2.5}", "'num_hidden_layers' must be a positive integer, found 2.5")]
    [InlineData("{\"hidden_size\": 8, \"hidden_size\": 16}", "invalid JSON")]
    public void BadConfigIsReported(string json, string fragment)
    {
        string dir = WriteSharded();
        string path = Path.Combine(dir, "config.json");
        File.WriteAllText(path, json);
        var e = Assert.Throws<ModelDirectoryException>(() => ModelDirectory.Open(dir).Dispose());
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(fragment, e.Message);
    }

    [Fact]
    public void DirectoryWithoutWeightsIsReported()
    {
        string dir = _dir.Combine("empty");
        Directory.CreateDirectory(dir);
        var e = Assert.Throws<ModelDirectoryException>(() => ModelDirectory.Open(dir).Dispose());
        Assert.Contains("no model.safetensors, model.safetensors.index.json or *.safetensors file", e.Message);
    }
}
