using System.Text.Json;
using Engine.Training;

namespace Engine.Training.Tests;

/// <summary>One case of tests/fixtures/qwen2 (written by gen_fixtures.py from a float64 PyTorch reference):
/// config, packed batch, AdamW options, and the named float32/float64 arrays of its .bin file.</summary>
public sealed class Qwen2Fixture
{
    public static readonly string[] CaseNames = ["untied_gqa", "tied_mqa"];

    private readonly byte[] _blob;
    private readonly Dictionary<string, (string DType, int Offset, int Count)> _entries = new(StringComparer.Ordinal);

    private Qwen2Fixture(JsonElement c, string dir)
    {
        Name = c.GetProperty("name").GetString()!;
        var k = c.GetProperty("config");
        Config = new Qwen2Config(k.GetProperty("vocab_size").GetInt32(), k.GetProperty("hidden_size").GetInt32(),
            k.GetProperty("intermediate_size").GetInt32(), k.GetProperty("num_layers").GetInt32(), k.GetProperty("num_heads").GetInt32(),
            k.GetProperty("num_kv_heads").GetInt32(), k.GetProperty("tie_word_embeddings").GetBoolean(),
            k.GetProperty("rms_norm_eps").GetDouble(), k.GetProperty("rope_theta").GetDouble());
        ConfigJson = k;
        Tokens = c.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Labels = c.GetProperty("labels").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        DocumentLengths = c.GetProperty("doc_lengths").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var a = c.GetProperty("adamw");
        AdamW = new AdamWOptions(a.GetProperty("lr").GetDouble(), a.GetProperty("beta1").GetDouble(), a.GetProperty("beta2").GetDouble(),
            a.GetProperty("eps").GetDouble(), a.GetProperty("weight_decay").GetDouble(), a.GetProperty("max_grad_norm").GetDouble());
        Steps = c.GetProperty("steps").GetInt32();
        foreach (var e in c.GetProperty("entries").EnumerateObject())
        {
            int count = e.Value.GetProperty("shape").EnumerateArray().Aggregate(1, (n, d) => n * d.GetInt32());
            _entries[e.Name] = (e.Value.GetProperty("dtype").GetString()!, e.Value.GetProperty("offset").GetInt32(), count);
        }
        _blob = File.ReadAllBytes(Path.Combine(dir, c.GetProperty("file").GetString()!));
    }

    public string Name { get; }
    public Qwen2Config Config { get; }
    public JsonElement ConfigJson { get; }
    public int[] Tokens { get; }
    public int[] Labels { get; }
    public int[] DocumentLengths { get; }
    public AdamWOptions AdamW { get; }
    public int Steps { get; }

    public PackedBatch Batch => new(Tokens, Labels, DocumentLengths);

    public static Qwen2Fixture Load(string name)
    {
        string dir = Path.Combine(AppContext.BaseDirectory, "fixtures", "qwen2");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "manifest.json")));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
            if (c.GetProperty("name").GetString() == name) return new Qwen2Fixture(c.Clone(), dir);
        throw new ArgumentException($"no fixture case '{name}'");
    }

    public bool Has(string entry) => _entries.ContainsKey(entry);

    /// <summary>An entry's values widened to float64.</summary>
    public double[] Get(string entry)
    {
        var (dtype, offset, count) = _entries.TryGetValue(entry, out var e) ? e : throw new KeyNotFoundException($"{Name}: no entry '{entry}'");
        var span = _blob.AsSpan(offset);
        return dtype == "f32"
            ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(span[..(count * 4)]).ToArray().Select(x => (double)x).ToArray()
            : System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(span[..(count * 8)]).ToArray();
    }

    /// <summary>An entry stored as float32, exactly.</summary>
    public float[] GetSingle(string entry)
    {
        var (dtype, offset, count) = _entries[entry];
        if (dtype != "f32") throw new InvalidOperationException($"{Name}: '{entry}' is {dtype}");
        return System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(_blob.AsSpan(offset, count * 4)).ToArray();
    }

    /// <summary>A model of this case with the fixture's initial parameters.</summary>
    public Qwen2Model CreateModel(ComputeContext context, ComputeDType dtype, int lossChunkTokens = 5)
    {
        var model = Qwen2Model.Create(context, Config, dtype, lossChunkTokens);
        foreach (var p in model.Parameters) model.WriteParameters(GetSingle("param/" + p.Name), p.Offset);
        return model;
    }
}
