using System.Text.Json.Nodes;
using Engine.Merge.Config;
using Engine.Merge.Execution;
using Engine.Testing;

namespace Engine.Merge.Tests;

/// <summary><c>engine merge --dry-run</c>: the output layer map of a sliced config, checked before anything is written.</summary>
public sealed class DryRunLayerMapTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public DryRunLayerMapTests()
    {
        ArchitectureModels.Write(_dir.Combine("orca"), "llama", 4, 1);
        ArchitectureModels.Write(_dir.Combine("platy"), "llama", 4, 2);
    }

    public void Dispose() => _dir.Dispose();

    private string Config(string yaml)
    {
        string path = _dir.Combine("c.yml");
        File.WriteAllText(path, yaml);
        return path;
    }

    private string Frankenmerge => Config($$"""
        merge_method: passthrough
        slices:
          - sources: [{model: {{_dir.Combine("orca")}}, layer_range: [0, 3]}]
          - sources: [{model: {{_dir.Combine("platy")}}, layer_range: [1, 4]}]
        """);

    private string GradientSlerp => Config($$"""
        merge_method: slerp
        base_model: {{_dir.Combine("orca")}}
        slices:
          - sources:
              - {model: {{_dir.Combine("orca")}}, layer_range: [0, 4]}
              - {model: {{_dir.Combine("platy")}}, layer_range: [0, 4]}
        parameters:
          t:
            - filter: self_attn
              value: [0, 1]
            - value: 0.5
        """);

    [Fact]
    public void FrankenmergeMapNamesEveryOutputLayersSource()
    {
        using var plan = MergePlan.Create(MergeConfigReader.Load(Frankenmerge));
        var map = LayerMap.Build(plan);
        Assert.Equal(6, map["output_layers"]!.GetValue<int>());
        var layers = map["layers"]!.AsArray();
        Assert.Equal(6, layers.Count);
        int[] expected = [0, 1, 2, 1, 2, 3];
        for (int i = 0; i < 6; i++)
        {
            var source = layers[i]!["sources"]!.AsArray().Single()!;
            Assert.EndsWith(i < 3 ? "orca" : "platy", source["model"]!.GetValue<string>());
            Assert.Equal(expected[i], source["layer"]!.GetValue<int>());
            Assert.Equal(i < 3 ? 1 : 2, layers[i]!["slice"]!.GetValue<int>());
        }
        var others = map["other_tensors"]!.AsArray().ToDictionary(o => o!["tensor"]!.GetValue<string>(), o => o!["sources"]![0]!.GetValue<string>());
        Assert.EndsWith("orca", others["model.embed_tokens.weight"]);
        Assert.EndsWith("platy", others["lm_head.weight"]);
    }

    [Fact]
    public void GradientMapShowsEachFiltersValueAtEveryLayer()
    {
        using var plan = MergePlan.Create(MergeConfigReader.Load(GradientSlerp));
        string text = LayerMap.Render(LayerMap.Build(plan));
        Assert.Contains("4 output layers (sliced)", text);
        // Layer 3 of 4 is t = 2/3: self_attn's [0, 1] gives 0.666667, the rest 0.5.
        var line = text.Split('\n').Single(l => l.TrimStart().StartsWith("layer   2", StringComparison.Ordinal));
        Assert.Contains("orca:2 (base)", line);
        Assert.Contains("platy:2", line);
        Assert.Contains("0.666667 (self_attn.*)", line);
        Assert.Contains("t=0.5 (input_layernorm.weight post_attention_layernorm.weight mlp.*)", line);
        Assert.Contains("position 0.667", line);
    }

    [Fact]
    public void CommandPrintsTheMapAndWritesNothing()
    {
        var result = EngineProcess.Run("merge", Frankenmerge, "--dry-run", "--json");
        Assert.True(result.ExitCode == 0, result.Stderr);
        var map = JsonNode.Parse(result.Stdout)!;
        Assert.Equal(6, map["layers"]!.AsArray().Count);
        Assert.Equal(["c.yml", "orca", "platy"], Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName).Order().ToArray());

        var text = EngineProcess.Run("merge", GradientSlerp, "--dry-run");
        Assert.True(text.ExitCode == 0, text.Stderr);
        Assert.Contains("layer   0 <- slice 1,", text.Stdout);
    }

    [Fact]
    public void CommandWithoutOutOrDryRunIsAOneLineError()
    {
        var result = EngineProcess.Run("merge", Frankenmerge);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("--out DIR is required", result.Stderr);
    }
}
