using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;

namespace Engine.Merge.Benchmarks;

/// <summary>The generated models a merge benchmark reads: reused when already there in the same shape, otherwise
/// generated, once the disk is known to hold them and the benchmark's outputs.</summary>
public static class BenchModels
{
    /// <summary>Makes sure every model of <paramref name="models"/> (the base has no expert seed) exists in the
    /// shape of <paramref name="spec"/>, leaving room for <paramref name="outputs"/> model-sized outputs.</summary>
    public static void Ensure(SyntheticModelSpec spec, IReadOnlyList<(string Path, ulong? ExpertSeed)> models, int outputs)
    {
        var missing = models.Where(m => !Directory.Exists(m.Path)).ToList();
        foreach (var (path, _) in models.Except(missing)) CheckShape(spec, path);
        if (missing.Count == 0) return;

        string root = Path.GetDirectoryName(missing[0].Path)!;
        Directory.CreateDirectory(root);
        // Fail now rather than after an hour of generating: a full-depth 32b model alone is 65 GB.
        long needed = (missing.Count + outputs) * spec.ByteLength;
        long free = new DriveInfo(root).AvailableFreeSpace;
        if (needed > free)
            throw new EngineException($"{root}: generating {missing.Count} model(s) of {spec.ByteLength / 1e9:F1} GB and writing {outputs} output(s) needs {needed / 1e9:F1} GB, " +
                $"but only {free / 1e9:F1} GB is free; pass fewer --layers or another --dir");
        foreach (var (path, seed) in missing)
        {
            // A large shape takes minutes to generate: say what is happening, so the run does not look hung.
            Console.Error.WriteLine($"engine: generating {(seed is null ? "the base" : "an expert")} model ({spec.Parameters:N0} {spec.DType} parameters, {spec.ByteLength / 1e9:F1} GB) at {path}");
            SyntheticCheckpoint.Write(path, spec, 7, seed);
        }
    }

    /// <summary>A kept model of another shape (another --size or --layers in the same --dir) would be benchmarked
    /// under the wrong name: refuse it.</summary>
    private static void CheckShape(SyntheticModelSpec spec, string path)
    {
        string configPath = Path.Combine(path, "config.json");
        var config = File.Exists(configPath) ? JsonNode.Parse(File.ReadAllText(configPath)) : null;
        if (!JsonNode.DeepEquals(config, spec.ConfigJson()))
            throw new EngineException($"{path} holds a model of another shape than this --size and --layers; delete it or pick another --dir");
    }
}
