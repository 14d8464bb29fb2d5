using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Kernels;
using Engine.Kernels.Cpu;
using Engine.Kernels.Parity;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary><c>engine selftest</c>: every kernel of every available backend against the CPU reference on fresh
/// random inputs; a table of the largest relative error and pass/fail; exit code 2 on any failure.</summary>
public static class SelftestCommand
{
    /// <summary>Exit code when a kernel disagrees with the CPU reference.</summary>
    public const int ExitFailed = 2;

    public static Command Create()
    {
        var device = new Option<string>("--device") { Description = "all | " + KernelBackends.Description, DefaultValueFactory = _ => "all" };
        var seed = new Option<int?>("--seed") { Description = "seed of the random inputs (default: a fresh one, printed)" };
        var threads = new Option<int>("--threads") { Description = "CPU worker threads (0 = all cores)", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "print a machine-readable JSON report on stdout" };
        var trainer = new Option<bool>("--trainer")
        {
            Description = "check the native trainer's ops instead (--device cpu | cuda | cuda:N | auto; default auto) against the CPU fp32 path",
        };
        var command = new Command("selftest", "check every kernel of every available backend against the CPU reference") { device, seed, threads, json, trainer };
        var trainerDevice = new TrainerDeviceOption();
        command.SetAction((parse, cancellation) => EngineCli.Guard(() =>
        {
            int s = parse.GetValue(seed) ?? Random.Shared.Next();
            if (parse.GetValue(trainer))
            {
                string value = parse.GetValue(device)!.Trim().ToLowerInvariant();
                var chosen = trainerDevice.Resolve(value == "all" ? "auto" : value, "selftest --trainer");
                return Task.FromResult(TrainerSelftest.Run(chosen, (ulong)s, parse.GetValue(json)));
            }
            int t = parse.GetValue(threads);
            if (t < 0) throw new EngineException($"--threads {t} must be 0 (all cores) or positive");
            string d = parse.GetValue(device)!.Trim().ToLowerInvariant();
            var devices = d == "all" ? KernelBackends.Available(includeSimulator: true) : [d];
            var results = new List<SelfTestResult>();
            var described = new Dictionary<string, string>();
            foreach (var name in devices)
            {
                cancellation.ThrowIfCancellationRequested();
                // "cpu" is checked single-threaded against the all-core reference: the thread-count invariance.
                using var backend = name == "cpu" ? new CpuMergeKernels(1) : KernelBackends.Create(name, t);
                described[name] = backend.Device;
                results.AddRange(new KernelSelfTest(s, small: name == "ilgpu-cpu").Run(backend, t).Select(r => r with { Device = name }));
            }
            bool ok = results.All(r => r.Passed);
            if (parse.GetValue(json)) Console.Out.WriteLine(Report(results, described, s, ok).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else Print(results, described, s, ok);
            return Task.FromResult(ok ? 0 : ExitFailed);
        }));
        return command;
    }

    private static JsonObject Report(List<SelfTestResult> results, Dictionary<string, string> described, int seed, bool ok) => new()
    {
        ["seed"] = seed,
        ["devices"] = new JsonObject(described.Select(d => KeyValuePair.Create(d.Key, (JsonNode?)d.Value))),
        ["passed"] = ok,
        ["importance_tolerance"] = new JsonObject { ["relative"] = KernelTolerances.ImportanceRelative, ["absolute"] = KernelTolerances.ImportanceAbsolute },
        ["cases"] = new JsonArray(results.Select(r => (JsonNode)new JsonObject
        {
            ["device"] = r.Device,
            ["kernel"] = r.Kernel,
            ["case"] = r.Case,
            ["max_relative_error"] = double.IsFinite(r.MaxRelativeError) ? r.MaxRelativeError : null,
            ["passed"] = r.Passed,
            ["detail"] = r.Detail,
        }).ToArray()),
    };

    private static void Print(List<SelfTestResult> results, Dictionary<string, string> described, int seed, bool ok)
    {
        foreach (var (name, device) in described) AnsiConsole.MarkupLine(Markup.Escape($"{name}: {device}"));
        var table = new Table().AddColumns("device", "kernel", "case", "max rel. error", "result");
        foreach (var r in results)
        {
            string error = double.IsNaN(r.MaxRelativeError) ? "-" : double.IsInfinity(r.MaxRelativeError) ? "mismatch" : r.MaxRelativeError.ToString("0.0e+0");
            table.AddRow(Markup.Escape(r.Device), r.Kernel, Markup.Escape(r.Case), error, r.Passed ? "[green]pass[/]" : $"[red]FAIL[/] {Markup.Escape(r.Detail)}");
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(Markup.Escape($"seed {seed}; importance tolerance |d| <= {KernelTolerances.ImportanceRelative:0e0} |ref| + {KernelTolerances.ImportanceAbsolute:0e0}; selection, quantiles, conversion bit-identical"));
        AnsiConsole.MarkupLine(ok ? $"[green]all {results.Count} cases passed[/]" : $"[red]{results.Count(r => !r.Passed)} of {results.Count} cases FAILED[/]");
    }
}
