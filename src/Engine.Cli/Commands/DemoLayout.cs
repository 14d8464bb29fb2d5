using System.Globalization;
using Engine.Core;
using Engine.Training.Synthetic;

namespace Engine.Cli.Commands;

/// <summary>Where one demo run keeps its files under <c>--dir</c>: <c>SIZE-SEED/</c> holds <c>data/</c> (the domains),
/// <c>recipe.yml</c>, and the pipeline's output (<c>models/backbone-SIZE-SEED</c>, the pre-trained backbone;
/// <c>steps/</c>, <c>report.md</c>, <c>report.json</c>, <c>plots/</c>): <c>engine pipeline recipe.yml --out SIZE-SEED</c>
/// reuses every step of it.</summary>
public sealed record DemoLayout(string Root, ExperimentSize Size, int Seed)
{
    /// <summary>The recipe and the pipeline's output folder.</summary>
    public string RunPath => Path.Combine(Root, Key);

    /// <summary>The generated domains (<c>NAME/train.jsonl</c>, <c>NAME/eval.jsonl</c>).</summary>
    public string DataPath => Path.Combine(RunPath, "data");

    private string Key => string.Create(CultureInfo.InvariantCulture, $"{Size.Name}-{Seed}");

    /// <summary>The layout under <paramref name="dir"/> (made absolute); a path naming a file is an
    /// <see cref="EngineException"/>.</summary>
    public static DemoLayout Resolve(string dir, ExperimentSize size, int seed)
    {
        string root = Path.GetFullPath(dir);
        if (File.Exists(root)) throw new EngineException($"{root}: --dir names a file; give a directory (created if missing)");
        return new DemoLayout(root, size, seed);
    }
}
