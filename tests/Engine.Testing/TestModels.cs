using System.Collections.Immutable;
using System.Text;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Numerics;
using Engine.Core.Safetensors;

namespace Engine.Testing;

/// <summary>Writes small model directories from explicit float values.</summary>
public static class TestModels
{
    public static void Write(string path, DType dtype, IEnumerable<(string Name, long[] Shape, float[] Values)> tensors, JsonObject? config = null)
    {
        var list = tensors.ToList();
        using var writer = ShardWriter.Create(path, list.Select(t => new TensorSpec(t.Name, dtype, t.Shape.ToImmutableArray())).ToList(), new ShardWriterOptions());
        foreach (var (name, _, values) in list)
        {
            var bytes = new byte[values.Length * dtype.SizeOf()];
            DTypeConversion.FromSingle(values, dtype, bytes);
            writer.WriteTensor(name, bytes);
        }
        config ??= new JsonObject { ["architectures"] = new JsonArray("Qwen2ForCausalLM"), ["model_type"] = "qwen2", ["torch_dtype"] = dtype.TorchName() };
        writer.WriteFile("config.json", Encoding.UTF8.GetBytes(config.ToJsonString()));
        writer.Commit();
    }

    /// <summary>Reads every tensor of a model as float32.</summary>
    public static Dictionary<string, float[]> Read(string path)
    {
        using var model = ModelDirectory.Open(path);
        var result = new Dictionary<string, float[]>();
        foreach (var t in model.Tensors)
        {
            using var view = t.Read();
            var values = new float[t.Info.ElementCount];
            DTypeConversion.ToSingle(view.Bytes, t.Info.DType, values);
            result[t.Name] = values;
        }
        return result;
    }

    /// <summary>Every file's bytes under a directory, by relative name (for bit-identity checks).</summary>
    public static Dictionary<string, byte[]> Files(string path, params string[] except) =>
        Directory.GetFiles(path).Where(f => !except.Contains(System.IO.Path.GetFileName(f)))
            .ToDictionary(f => System.IO.Path.GetFileName(f)!, File.ReadAllBytes);

    public static float[] RandomValues(Random random, int n, float scale = 1f) =>
        Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1) * scale).ToArray();
}
