using System.Globalization;
using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Merge;
using Engine.Merge.Batch;
using Engine.Merge.Config;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary>The batch form of <c>engine merge</c>: several configs into <c>--out-root DIR</c>, a job file, or
/// <c>--sweep</c>. Builds the jobs, prints the plan (<c>--dry-run</c> stops there), runs them with one line per
/// finished job on stderr (with <c>--json</c>: one JSON event per line on stdout) and ends with a table of the jobs.</summary>
public static class BatchMergeCommand
{
    /// <summary>What the batch form takes from the command line; <paramref name="Single"/> is the one file given,
    /// already loaded, when only one was.</summary>
    public sealed record Request(IReadOnlyList<string> Configs, MergeInput? Single, string? OutRoot, IReadOnlyList<string> Sweeps, string Device, int Threads,
        bool Overwrite, bool Resume, long MaxShardBytes, bool DryRun, bool Json);

    /// <summary>Whether the command line asks for a batch rather than one merge into <c>--out</c>: several configs,
    /// batch options, or a single file (<paramref name="single"/>, loaded) that is a job file.</summary>
    public static bool IsBatch(int configs, MergeInput? single, string? outRoot, IReadOnlyList<string> sweeps, bool resume) =>
        configs > 1 || outRoot != null || sweeps.Count > 0 || resume || single?.JobFile != null;

    public static int Run(IServiceProvider services, Request request, CancellationToken cancellation)
    {
        var (jobs, root) = Jobs(request);
        var options = new BatchOptions(root)
        {
            Device = request.Device,
            Threads = request.Threads,
            Overwrite = request.Overwrite,
            Resume = request.Resume,
            MaxShardBytes = request.MaxShardBytes,
        };
        foreach (var warning in jobs.SelectMany(j => j.Config.Warnings).Distinct()) Console.Error.WriteLine($"engine: warning: {warning}");
        using var plan = BatchPlan.Create(jobs, options);
        if (request.Json) Console.Out.WriteLine(plan.ToJson().ToJsonString());
        else Console.Out.Write(plan.Render());
        if (request.DryRun) return 0;

        var executor = new BatchExecutor(services.GetRequiredService<IMergeKernelsFactory>());
        BatchResult result;
        try
        {
            result = executor.Run(plan, new Events(request.Json), cancellation);
        }
        catch (OperationCanceledException)
        {
            // Unlike one merge, a batch may have published jobs before the stop: they stay, and --resume skips them.
            Console.Error.WriteLine($"engine: cancelled; jobs finished before stay published ({Path.Combine(plan.Options.Root, BatchLog.FileName)}); rerun with --resume for the rest");
            return EngineCli.ExitCancelled;
        }
        if (!request.Json) PrintSummary(result);
        return 0;
    }

    /// <summary>The jobs and the output root: a job file's, or one job per config into <c>ROOT/NAME</c>; each expanded by
    /// the sweeps.</summary>
    private static (IReadOnlyList<BatchJob> Jobs, string Root) Jobs(Request request)
    {
        var sweeps = request.Sweeps.Select(ParameterSweep.Parse).ToList();
        if (sweeps.Select(s => s.Name).Distinct().Count() != sweeps.Count) throw new MergeConfigException("--sweep: a parameter is swept twice");
        if (request.Single?.JobFile is { } file)
        {
            if (request.OutRoot != null) throw new MergeConfigException($"{request.Configs[0]}: a job file gives its outputs (and out_root) itself; drop --out-root");
            return (file.Jobs.SelectMany(j => ParameterSweep.Expand(j, sweeps)).ToList(), file.Root);
        }
        string root = request.OutRoot is { } r ? Path.GetFullPath(r)
            : throw new MergeConfigException("merge: a batch (several configs, or --sweep / --resume) needs --out-root DIR; each config's output goes to DIR/<config name>/");
        var jobs = new List<BatchJob>();
        foreach (var path in request.Configs)
        {
            var config = request.Single?.Config ?? LoadAmongConfigs(path);
            string name = JobFile.DefaultName(path);
            jobs.AddRange(ParameterSweep.Expand(new BatchJob(name, config, Path.Combine(root, name)), sweeps));
        }
        return (jobs, root);
    }

    /// <summary>One of several configs given together; a job file among them is refused before its jobs are loaded.</summary>
    private static MergeConfig LoadAmongConfigs(string path) => JobFile.IsJobFile(path)
        ? throw new MergeConfigException($"{path}: a job file is given alone (engine merge {path}), not among configs")
        : MergeConfigReader.Load(path);

    private static void PrintSummary(BatchResult result)
    {
        var table = new Table().AddColumns("job", "output", "tensors", "kept", "s");
        foreach (var (job, report) in result.Jobs)
        {
            table.AddRow(Markup.Escape(job.Name), Markup.Escape(report?.Output ?? job.OutputPath), report is null ? "skipped" : report.Totals.Tensors.ToString(CultureInfo.InvariantCulture),
                report is null ? "-" : report.Totals.KeptFraction.ToString("P2", CultureInfo.InvariantCulture),
                report is null ? "-" : report.Totals.Seconds.ToString(CultureInfo.InvariantCulture));
        }
        AnsiConsole.Write(table);
        var s = result.Sharing;
        AnsiConsole.MarkupLine(Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"batch of {result.Jobs.Count} jobs in {result.Seconds:F2} s; shared {s.Reads} input reads, {s.Steps} intermediate steps, {s.Importances} arcee_fusion importances")));
    }

    /// <summary>Events as they happen, on the worker that made them: JSON lines on stdout, or a line per job on stderr.</summary>
    private sealed class Events(bool json) : IProgress<BatchEvent>
    {
        private readonly Lock _gate = new();

        public void Report(BatchEvent e)
        {
            lock (_gate)
            {
                if (json)
                {
                    var line = new JsonObject { ["event"] = e.Event };
                    if (e.Job != null) line["job"] = e.Job;
                    if (e.Tensor != null) line["tensor"] = e.Tensor;
                    line["bytes"] = e.Bytes;
                    line["seconds"] = e.Seconds;
                    if (e.Status != null) line["status"] = e.Status;
                    if (e.Output != null) line["output"] = e.Output;
                    if (e.Device is { } d) line["device"] = d;
                    if (e.Event is "tensor" or "done") (line["done"], line["total"]) = (e.Done, e.Total);
                    Console.Out.WriteLine(line.ToJsonString());
                    Console.Out.Flush();
                }
                else if (e.Event == "job")
                {
                    Console.Error.WriteLine(e.Status == "skipped"
                        ? $"engine: job '{e.Job}' finished earlier: {e.Output} (skipped)"
                        : string.Create(CultureInfo.InvariantCulture, $"engine: job '{e.Job}' finished in {e.Seconds} s: {e.Output}"));
                }
            }
        }
    }
}
