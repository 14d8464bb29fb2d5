using System.CommandLine;
using Engine.Core.Model;
using Engine.Merge.Execution;

namespace Engine.Cli.Commands;

/// <summary><c>engine demo</c>: the main job on an embedded default. On first use it writes a small family
/// of checkpoints (a base and math, science and coding experts), then merges them in TinyR1's order,
/// <c>(math into science) into coding</c>, with Arcee Fusion in one streaming pass, and prints the report.</summary>
public static class DemoCommand
{
    public const string TinyR1Plan = """
        # TinyR1-32B-Preview's merge order: stage 1 fuses math into science,
        # stage 2 fuses that result into coding. Both stages use exact Arcee Fusion.
        name: math-science
        merge_method: arcee_fusion
        base_model: science
        models:
          - model: math
        parameters:
          lambda: 1.5
        dtype: bfloat16
        ---
        merge_method: arcee_fusion
        base_model: coding
        models:
          - model: math-science
        parameters:
          lambda: 1.5
        dtype: bfloat16
        out_dtype: bfloat16
        """;

    public static Command Create(IServiceProvider services)
    {
        var dir = new Option<string>("--dir") { Description = "where the demo checkpoints live", DefaultValueFactory = _ => DefaultDirectory() };
        var options = new CommonOptions();
        var command = new Command("demo", "write a small base + three experts (first use) and merge them in TinyR1's order") { dir };
        options.AddTo(command);
        command.SetAction((parse, cancellation) => EngineCli.Guard(async () =>
        {
            string root = Path.GetFullPath(parse.GetValue(dir)!);
            string config = EnsureFamily(root);
            var run = new MergeRunOptions(Path.Combine(root, "merged")) { Overwrite = true };
            var result = await MergeCommand.RunAsync(services, config, run, options.Device(parse), options.Threads(parse), parse.GetValue(options.Json), cancellation);
            MergeCommand.Print(result.Report, parse.GetValue(options.Json));
            return 0;
        }));
        return command;
    }

    private static string DefaultDirectory() =>
        Environment.GetEnvironmentVariable("ENGINE_DEMO_DIR") is { Length: > 0 } d ? d
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "engine", "demo");

    /// <summary>Writes whatever part of the family is missing (each model atomically) and the plan.</summary>
    public static string EnsureFamily(string root)
    {
        Directory.CreateDirectory(root);
        var spec = SyntheticModelSpec.Tiny;
        const ulong baseSeed = 2025;
        (string Name, ulong? Seed)[] family = [("base", null), ("math", 11), ("science", 12), ("coding", 13)];
        foreach (var (name, seed) in family)
        {
            string path = Path.Combine(root, name);
            if (!Directory.Exists(path))
            {
                Console.Error.WriteLine($"engine: writing demo checkpoint {path}");
                SyntheticCheckpoint.Write(path, spec, baseSeed, seed);
            }
        }
        string config = Path.Combine(root, "tinyr1-merge.yml");
        File.WriteAllText(config, TinyR1Plan + "\n");
        return config;
    }
}
