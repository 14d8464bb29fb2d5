using System.Globalization;
using System.Text;
using Engine.Training.Sft;

namespace Engine.Training.Synthetic;

/// <summary>Writes the embedded experiment's <c>recipe.yml</c> in the format <c>engine pipeline</c> reads: the backbone
/// (<c>embedded:SIZE</c>: the pipeline pre-trains it from the recipe's seed as its first step),
/// the domains in column order, the SFT settings tuned for the size (named as <c>engine sft</c>'s options, dashes
/// as underscores), both merge orders of the paper's Table 2 with Arcee Fusion at lambda 1.5 (TinyR1-32B-Preview's
/// <c>(math &amp; science) &amp; coding</c> and the ablation's <c>(math &amp; coding) &amp; science</c>; <c>a &amp; b</c>
/// fuses a into b), both controls (mixture and average) and exact-match evaluation. Paths are relative to the recipe.</summary>
internal static class ExperimentRecipe
{
    public const string FileName = "recipe.yml";

    /// <summary>Long enough for the longest reply of any domain (a 3-digit sum's trace is about 50 bytes).</summary>
    public const int MaxNewTokens = 64;

    public static string Write(string dir, IReadOnlyList<SyntheticDomain> domains, ExperimentSize size, int seed)
    {
        var missing = TinyR1Domains.Where(n => domains.All(d => d.Name != n)).ToList();
        if (missing.Count > 0)
            throw new ArgumentException($"the experiment's merges need the domains {string.Join(", ", TinyR1Domains)}; missing: {string.Join(", ", missing)}", nameof(domains));
        if (ExperimentSize.All.Append(ExperimentSize.Test).All(named => named != size))
            throw new ArgumentException($"the recipe names its backbone by size, and {size} is not one of the named sizes", nameof(size));
        Directory.CreateDirectory(dir);
        string Relative(string path) => Quote(Path.GetRelativePath(Path.GetFullPath(dir), Path.GetFullPath(path)).Replace('\\', '/'));
        var o = size.BranchOptions(seed);
        var y = new StringBuilder();
        y.AppendLine(CultureInfo.InvariantCulture, $"# The embedded Branch-Merge experiment, size {size.Name}, seed {seed}; paths are relative to this file.");
        y.AppendLine(CultureInfo.InvariantCulture, $"name: tinyr1-demo-{size.Name}");
        y.AppendLine(CultureInfo.InvariantCulture, $"backbone: embedded:{size.Name}");
        y.AppendLine(CultureInfo.InvariantCulture, $"seed: {seed}");
        y.AppendLine("domains:");
        foreach (var d in domains)
            y.AppendLine(CultureInfo.InvariantCulture, $"  {d.Name}: {{ train: {Relative(d.TrainPath)}, eval: {Relative(d.EvalPath)} }}");
        y.AppendLine("sft:");
        y.AppendLine(CultureInfo.InvariantCulture, $"  lr: {o.AdamW.Lr.ToString("R", CultureInfo.InvariantCulture)}");
        y.AppendLine(CultureInfo.InvariantCulture, $"  lr_schedule: {SftOptionNames.Of(o.LrScheduleKind)}");
        y.AppendLine(CultureInfo.InvariantCulture, $"  warmup_ratio: {o.WarmupRatio.ToString("R", CultureInfo.InvariantCulture)}");
        y.AppendLine(CultureInfo.InvariantCulture, $"  epochs: {o.Epochs}");
        y.AppendLine(CultureInfo.InvariantCulture, $"  batch_size: {o.BatchSize}");
        y.AppendLine(CultureInfo.InvariantCulture, $"  seq_len: {o.SeqLen}");
        y.AppendLine(CultureInfo.InvariantCulture, $"  packing: {SftOptionNames.Of(o.Packing)}");
        y.AppendLine(CultureInfo.InvariantCulture, $"  seed: {o.Seed}");
        y.AppendLine("merges:");
        foreach (var (name, order) in new[] { ("ms-then-c", "(math & science) & coding"), ("mc-then-s", "(math & coding) & science") })
        {
            y.AppendLine(CultureInfo.InvariantCulture, $"  - name: {name}");
            y.AppendLine(CultureInfo.InvariantCulture, $"    order: \"{order}\"");
            y.AppendLine("    method: arcee_fusion");
            y.AppendLine("    lambda: 1.5");
        }
        y.AppendLine("controls:");
        y.AppendLine("  mixture: true");
        y.AppendLine("  average: true");
        y.AppendLine("eval:");
        y.AppendLine("  metric: exact_match");
        y.AppendLine(CultureInfo.InvariantCulture, $"  max_new_tokens: {MaxNewTokens}");
        y.AppendLine("  batch: 32");
        string path = Path.Combine(dir, FileName);
        File.WriteAllText(path, y.ToString());
        return path;
    }

    private static readonly string[] TinyR1Domains = ["math", "coding", "science"];

    /// <summary>A YAML double-quoted scalar (paths may hold spaces or YAML punctuation).</summary>
    private static string Quote(string text) => "\"" + text.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
