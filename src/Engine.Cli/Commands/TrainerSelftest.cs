using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Training;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary><c>engine selftest --trainer</c>: every op of the native trainer, forward and backward, on the chosen
/// device against the CPU fp32 path (on the CPU: its fp32 ops against float64); a table (or JSON) of the errors,
/// exit code <see cref="SelftestCommand.ExitFailed"/> when an op is outside its tolerance.</summary>
public static class TrainerSelftest
{
    public static int Run(TrainerDevice device, ulong seed, bool json)
    {
        using var context = device.CreateContext(0);
        var checks = context.CheckTrainerOps(seed);
        bool ok = checks.All(c => c.Passed);
        if (json) Console.Out.WriteLine(Report(device, seed, checks, ok).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        else Print(device, seed, checks, ok);
        return ok ? 0 : SelftestCommand.ExitFailed;
    }

    private static JsonObject Report(TrainerDevice device, ulong seed, IReadOnlyList<TrainerOpCheck> checks, bool ok) => new()
    {
        ["device"] = device.ToString(),
        ["seed"] = seed,
        ["passed"] = ok,
        ["ops"] = new JsonArray(checks.Select(c => (JsonNode)new JsonObject
        {
            ["op"] = c.Op,
            ["forward_max_abs_error"] = c.ForwardMaxAbsError,
            ["forward_max_rel_error"] = c.ForwardMaxRelError,
            ["backward_max_abs_error"] = c.BackwardMaxAbsError,
            ["backward_max_rel_error"] = c.BackwardMaxRelError,
            ["tolerance"] = c.Tolerance,
            ["passed"] = c.Passed,
        }).ToArray()),
    };

    private static void Print(TrainerDevice device, ulong seed, IReadOnlyList<TrainerOpCheck> checks, bool ok)
    {
        string reference = device.IsCuda ? "the CPU fp32 ops" : "float64";
        AnsiConsole.MarkupLine(Markup.Escape($"trainer ops on {device} against {reference}, seed {seed}"));
        var table = new Table().AddColumns("op", "fwd abs", "fwd rel", "bwd abs", "bwd rel", "tolerance", "result");
        foreach (var c in checks)
            table.AddRow(c.Op, c.ForwardMaxAbsError.ToString("0.0e+0"), c.ForwardMaxRelError.ToString("0.0e+0"), c.BackwardMaxAbsError.ToString("0.0e+0"),
                c.BackwardMaxRelError.ToString("0.0e+0"), c.Tolerance.ToString("0.0e+0"), c.Passed ? "[green]pass[/]" : "[red]FAIL[/]");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(ok ? $"[green]all {checks.Count} ops passed[/]" : $"[red]{checks.Count(c => !c.Passed)} of {checks.Count} ops FAILED[/]");
    }
}
