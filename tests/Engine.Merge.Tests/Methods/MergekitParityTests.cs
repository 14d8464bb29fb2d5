using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Numerics;

namespace Engine.Merge.Tests.Methods;

/// <summary>Golden outputs of mergekit's own merge functions (tests/fixtures/mergekit-methods.*, written by
/// tests/fixtures/make_mergekit_fixtures.py with PyTorch in float32) against the engine on the same inputs.
/// Deterministic methods only; DARE and DELLA draw from torch's generator and are checked by their references.</summary>
public sealed class MergekitParityTests
{
    private static readonly Lazy<(JsonObject Meta, Dictionary<string, float[]> Tensors)> Fixture = new(Load);

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var (name, _) in Fixture.Value.Meta["cases"]!.AsObject()) data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EngineMatchesMergekit(string name)
    {
        var (meta, tensors) = Fixture.Value;
        var entry = meta["cases"]![name]!;
        long[] shape = meta["shape"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
        var inputs = new Dictionary<string, float[]>
        {
            ["base"] = tensors["input.base"], ["m0"] = tensors["input.m0"], ["m1"] = tensors["input.m1"], ["m2"] = tensors["input.m2"],
        };
        var merged = MethodHarness.Run(entry["yaml"]!.GetValue<string>(), inputs, shape, chunk: 500, tensorName: meta["tensor_name"]!.GetValue<string>()).Values;
        // mergekit computes in float32 with float32 sums; the engine sums in float64: they agree to float32
        // rounding of values of about 0.02.
        MethodHarness.Close(tensors[entry["tensor"]!.GetValue<string>()], merged, atol: 2e-8, rtol: 2e-5, what: name);
    }

    private static (JsonObject, Dictionary<string, float[]>) Load()
    {
        string dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "tests", "fixtures", "mergekit-methods.json")))
            dir = Path.GetDirectoryName(dir) ?? throw new FileNotFoundException("tests/fixtures/mergekit-methods.json not found above " + AppContext.BaseDirectory);
        string fixtures = Path.Combine(dir, "tests", "fixtures");
        var meta = JsonNode.Parse(File.ReadAllText(Path.Combine(fixtures, "mergekit-methods.json")))!.AsObject();
        var tensors = new Dictionary<string, float[]>();
        using var file = ModelDirectory.Open(Path.Combine(fixtures, "mergekit-methods.safetensors"));
        foreach (var t in file.Tensors)
        {
            using var view = t.Read();
            var values = new float[t.Info.ElementCount];
            DTypeConversion.ToSingle(view.Bytes, t.Info.DType, values);
            tensors[t.Name] = values;
        }
        return (meta, tensors);
    }
}
