using Engine.Pipeline.Planning;

namespace Engine.Pipeline.Reporting;

/// <summary>The report's table, shaped like the paper's Table 2: one row per model, one cell per domain.</summary>
/// <param name="Key">The report step's key (the report is current while it matches).</param>
/// <param name="Name">The recipe's name.</param>
/// <param name="Recipe">The recipe file.</param>
/// <param name="Metric">exact_match or loss.</param>
/// <param name="MaxNewTokens">The generation limit of exact match.</param>
/// <param name="Domains">Column order.</param>
/// <param name="Rows">One per model, in plan order: base, experts, mixture, merges, average.</param>
/// <param name="Plots">The PNG files, relative to the output folder.</param>
public sealed record ReportTable(string Key, string Name, string Recipe, string Metric, int MaxNewTokens, IReadOnlyList<string> Domains, IReadOnlyList<ReportRow> Rows,
    IReadOnlyList<string> Plots);

/// <summary>One model, with the cost of the SFT runs that made it (a merge counts its experts'; null for the base,
/// which no SFT made): <see cref="SftTokens"/>, the tokens trained on; <see cref="SftWallSeconds"/>, the SFT steps'
/// wall time (their <c>step.json</c>'s <c>wall_seconds</c>: loading the data and the model, training, checkpoints,
/// publishing; for a resumed SFT, the attempt that finished it); <see cref="SftTrainSeconds"/>, the time of the
/// optimizer steps alone (from <c>metrics.jsonl</c>, every attempt). <see cref="MergeSeconds"/>: its merge's wall time.</summary>
public sealed record ReportRow(string Model, ModelRole Role, long? SftTokens, double? SftWallSeconds, double? SftTrainSeconds, double? MergeSeconds,
    IReadOnlyList<ReportCell> Cells);

/// <summary>A model on one domain: accuracy (null under the loss metric) and held-out loss with their 95% intervals.</summary>
public sealed record ReportCell(string Domain, int Rows, double? Accuracy, double[]? AccuracyCi95, double Loss, double[] LossCi95);
