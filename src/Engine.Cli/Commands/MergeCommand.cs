using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Diagnostics;
using Engine.Kernels;
using Engine.Merge;
using Engine.Merge.Batch;
using Engine.Merge.Config;
using Engine.Merge.Execution;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary><c>engine merge CONFIG.yml --out DIR</c>: a mergekit-compatible merge, single or multi-stage.</summary>
public static class MergeCommand
{
    public static Command Create(IServiceProvider services)
    {
        var config = new Argument<string[]>("config")
        {
            Description = "mergekit YAML (one document, or several for a multi-stage plan); several configs, or one job file (jobs: [...]), make a batch",
            Arity = ArgumentArity.OneOrMore,
        };
        // The list of configs takes any token, so a mistyped option (--ovewrite) would otherwise be read as one more
        // config and turn the merge into a batch that then complains about --out-root.
        config.Validators.Add(r =>
        {
            foreach (var token in r.Tokens)
            {
                if (token.Value.Length > 1 && token.Value[0] == '-' && !File.Exists(token.Value))
                    r.AddError($"Unrecognized option '{token.Value}'");
            }
        });
        var output = new Option<string?>("--out", "-o") { Description = "output model directory (required unless --dry-run)" };
        var dryRun = new Option<bool>("--dry-run") { Description = "check the config and every input, print the output layer map (output layer <- source model and layer, method, parameters) and write nothing" };
        var options = new CommonOptions();
        var overwrite = new Option<bool>("--overwrite") { Description = "replace an existing output directory" };
        var shardSize = new Option<string>("--out-shard-size") { Description = "maximum bytes per output shard (5GB, 500MB, 1000000, ...)", DefaultValueFactory = _ => "5GB" };
        var keep = new Option<string?>("--keep-intermediates") { Description = "also write every named intermediate stage as a model under this directory" };
        var profile = new Option<string?>("--profile") { Description = "write a Chrome/Perfetto trace of the pipeline stages (read, convert, upload, kernel, download, write) to this file, and print each stage's busy time and the stage the run is bound by" };
        var outRoot = new Option<string?>("--out-root") { Description = "batch: each config's output goes to DIR/<config name>/ (the job log too)" };
        var sweep = new Option<string[]>("--sweep") { Description = "batch: one job per value of a merge parameter, e.g. lambda=1.0,1.5,2.0 or density=0.3,0.5 (repeat for a grid)", DefaultValueFactory = _ => [] };
        var resume = new Option<bool>("--resume") { Description = "batch: skip the jobs the job log under the output root records as finished; redo the rest from their start" };
        var command = new Command("merge", "merge models as a mergekit config describes (Arcee Fusion and friends); several configs, a job file or --sweep run as one batch")
            { config, output, dryRun, overwrite, shardSize, keep, profile, outRoot, sweep, resume };
        options.AddTo(command);
        command.SetAction((parse, cancellation) => EngineCli.Guard(async () =>
        {
            var configs = parse.GetValue(config)!;
            // A single file is read and parsed once, here: whether it is a job file takes the parse, and a file that
            // is not valid YAML is reported as such, not by the options a config or a job file would have needed.
            var single = configs.Length == 1 ? MergeInput.Load(configs[0]) : null;
            if (BatchMergeCommand.IsBatch(configs.Length, single, parse.GetValue(outRoot), parse.GetValue(sweep)!, parse.GetValue(resume)))
            {
                if (parse.GetValue(output) != null) throw new EngineException("merge: --out names the output of one merge; a batch takes --out-root DIR (or its job file's outputs)");
                if (parse.GetValue(keep) != null || parse.GetValue(profile) != null)
                    throw new EngineException("merge: --keep-intermediates and --profile apply to one merge; run that config alone with --out");
                var request = new BatchMergeCommand.Request(configs, single, parse.GetValue(outRoot), parse.GetValue(sweep)!, options.Device(parse), options.Threads(parse),
                    parse.GetValue(overwrite), parse.GetValue(resume), ParseBytes(parse.GetValue(shardSize)!), parse.GetValue(dryRun), parse.GetValue(options.Json));
                return await Task.Run(() => BatchMergeCommand.Run(services, request, cancellation), cancellation);
            }
            var mergeConfig = single!.Config!;
            if (parse.GetValue(dryRun))
            {
                PrintLayerMap(mergeConfig, parse.GetValue(options.Json));
                return 0;
            }
            var outPath = parse.GetValue(output) ?? throw new EngineException("merge: --out DIR is required (or use --dry-run to only check the config)");
            var run = new MergeRunOptions(outPath)
            {
                Overwrite = parse.GetValue(overwrite),
                MaxShardBytes = ParseBytes(parse.GetValue(shardSize)!),
                KeepIntermediatesPath = parse.GetValue(keep),
                Trace = parse.GetValue(profile) is null ? null : new ProfileTrace(),
            };
            var result = await RunAsync(services, mergeConfig, run, options.Device(parse), options.Threads(parse), parse.GetValue(options.Json), cancellation);
            bool json = parse.GetValue(options.Json);
            if (parse.GetValue(profile) is not { } tracePath)
            {
                Print(result.Report, json);
                return 0;
            }
            var summary = ProfileView.Write(run.Trace!, tracePath);
            // Added to the printed report only: merge-report.json beside the model was written before the run ended.
            Print(result.Report, json, ProfileView.Json(summary, tracePath));
            if (!json) ProfileView.Print(summary);
            return 0;
        }));
        return command;
    }

    /// <summary>Runs a merge with a progress bar on stderr when it is a terminal.</summary>
    public static async Task<MergeResult> RunAsync(IServiceProvider services, MergeConfig config, MergeRunOptions run, string device, int threads, bool quiet, CancellationToken cancellation)
    {
        var merger = services.GetRequiredService<MergeService>();
        foreach (var warning in config.Warnings) Console.Error.WriteLine($"engine: warning: {warning}");
        if (quiet || Console.IsErrorRedirected) return await merger.RunAsync(config, run, device, threads, null, cancellation);

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        MergeResult? result = null;
        await console.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask("merging", maxValue: 1);
                var progress = new Progress<MergeProgress>(p =>
                {
                    task.MaxValue = p.Total;
                    task.Value = p.Done;
                    task.Description = Markup.Escape(p.Tensor.Length > 40 ? "..." + p.Tensor[^37..] : p.Tensor);
                });
                result = await merger.RunAsync(config, run, device, threads, progress, cancellation);
                task.Description = "done";
            });
        return result!;
    }

    /// <summary><c>--dry-run</c>: plans the merge (opening and checking every input, reading no weights) and
    /// prints its layer map.</summary>
    private static void PrintLayerMap(MergeConfig config, bool json)
    {
        foreach (var warning in config.Warnings) Console.Error.WriteLine($"engine: warning: {warning}");
        using var plan = MergePlan.Create(config);
        var map = LayerMap.Build(plan);
        Console.Out.Write(json ? map.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + Environment.NewLine : LayerMap.Render(map));
    }

    /// <summary>Prints the report: as indented JSON (with <paramref name="profile"/> added when given), or as a
    /// table of every tensor's stages and a summary line.</summary>
    public static void Print(MergeReport report, bool json, JsonObject? profile = null)
    {
        if (json)
        {
            var node = report.ToJson();
            if (profile != null) node["profile"] = profile;
            Console.Out.WriteLine(node.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return;
        }
        var totals = report.Totals;
        var table = new Table().AddColumns("tensor", "shape", "stage", "kept", "threshold", "KL mean", "ms");
        foreach (var t in report.Tensors)
        {
            for (int i = 0; i < t.Stages.Count; i++)
            {
                var s = t.Stages[i];
                // A tensor is timed as a whole, through all its stages: its time goes on its first row only.
                table.AddRow(i == 0 ? Markup.Escape(t.Name) : "", i == 0 ? Markup.Escape($"[{string.Join(",", t.Shape)}]") : "",
                    Markup.Escape(s.Stage), Fmt(s.KeptFraction, "P2"), Fmt(s.Threshold, "G4"), Fmt(s.KlMean, "G4"),
                    i == 0 ? Fmt(t.TimeMs, "F1") : "");
            }
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"merged {totals.Tensors} tensors ({totals.BytesWritten:N0} bytes) in {totals.Seconds} s on {report.Device}; " +
            $"kept {totals.KeptFraction:P2} of merged elements from the other model")));
        AnsiConsole.MarkupLine(Markup.Escape($"output: {report.Output} (report: {MergeReport.FileName})"));
    }

    private static string Fmt(double? value, string format) => value is { } d ? d.ToString(format, CultureInfo.InvariantCulture) : "-";

    /// <summary>Parses byte sizes as transformers writes them: plain bytes, or KB/MB/GB (10^3) and KiB/MiB/GiB (2^10).</summary>
    public static long ParseBytes(string text)
    {
        var t = text.Trim();
        (string Suffix, long Factor)[] units = [("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("KB", 1000), ("MB", 1000_000), ("GB", 1000_000_000), ("B", 1)];
        foreach (var (suffix, factor) in units)
        {
            // 'Infinity GB' parses as a double and 1e30GB overflows a long: both are refused below, not thrown.
            if (t.EndsWith(suffix, StringComparison.OrdinalIgnoreCase) && double.TryParse(t[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
                && v * factor >= 1 && v * factor < long.MaxValue)
                return (long)(v * factor);
        }
        if (long.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out long bytes) && bytes > 0) return bytes;
        throw new EngineException($"--out-shard-size '{text}' is not a positive byte size (e.g. 5GB, 500MB, 1000000)");
    }
}

/// <summary>Options every computing verb shares: <c>--device</c>, <c>--threads</c>, <c>--json</c>.</summary>
public sealed class CommonOptions
{
    public Option<string> DeviceOption { get; } = new("--device") { Description = KernelBackends.Description, DefaultValueFactory = _ => "auto" };
    public Option<int> ThreadsOption { get; } = new("--threads") { Description = "CPU worker threads (0 = all cores)", DefaultValueFactory = _ => 0 };
    public Option<bool> Json { get; } = new("--json") { Description = "print a machine-readable JSON report on stdout" };

    public void AddTo(Command command)
    {
        command.Options.Add(DeviceOption);
        command.Options.Add(ThreadsOption);
        command.Options.Add(Json);
    }

    public string Device(ParseResult parse) => parse.GetValue(DeviceOption)!;

    public int Threads(ParseResult parse)
    {
        int threads = parse.GetValue(ThreadsOption);
        if (threads < 0) throw new EngineException($"--threads {threads} must be 0 (all cores) or positive");
        return threads;
    }
}
