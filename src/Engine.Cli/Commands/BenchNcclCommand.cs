using System.CommandLine;
using System.Text.Json.Nodes;
using Engine.Training.Distributed;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary><c>engine bench nccl</c>: checks the NCCL collectives the CUDA trainer uses on each rank's GPU (exact
/// results on device buffers, an uneven shard layout included) and times a float64 all-reduce of the given size
/// (default: 0.5B's float64 gradients would be 494M elements; 64M keeps the check short). One process uses one GPU
/// with no MPI; <c>mpirun -np N</c> puts one rank on each of N GPUs. Exits non-zero when a result is wrong.</summary>
public static class BenchNcclCommand
{
    public static Command Create()
    {
        var elements = new Option<long>("--elements") { Description = "float64 elements of the timed all-reduce", DefaultValueFactory = _ => 64L << 20 };
        var repeat = new Option<int>("--repeat") { Description = "timed all-reduces after a warm-up; the median counts", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "print a machine-readable JSON report on stdout" };
        var command = new Command("nccl", "NCCL collectives on the GPUs: exact results, then all-reduce bandwidth") { elements, repeat, json };
        command.SetAction((parse, cancellation) => EngineCli.Guard(() =>
        {
            using var world = TrainingWorld.FromEnvironment();
            return Task.FromResult(RankGuard.Run(world, () =>
            {
                if (parse.GetValue(elements) < 1) throw new Core.EngineException($"--elements must be at least 1, got {parse.GetValue(elements)}");
                if (parse.GetValue(repeat) < 1) throw new Core.EngineException($"--repeat must be at least 1, got {parse.GetValue(repeat)}");
                var report = NcclCheck.Run(world, parse.GetValue(elements), parse.GetValue(repeat));
                // Every rank checked its own results: a rank with a wrong one says so and fails the job.
                if (report.Failures.Count > 0) throw new Core.EngineException($"NCCL gave wrong results: {string.Join("; ", report.Failures)}");
                if (world.Rank != 0) return 0;
                if (parse.GetValue(json))
                    Console.Out.WriteLine(new JsonObject
                    {
                        ["nccl"] = report.Version,
                        ["library"] = report.Library,
                        ["ranks"] = report.Ranks,
                        ["gpu"] = report.GpuName,
                        ["results"] = "exact",
                        ["elements"] = report.TimedElements,
                        ["allreduce_seconds"] = Math.Round(report.AllReduceSeconds, 6),
                        ["algbw_gb_s"] = Math.Round(report.AlgorithmBandwidth / 1e9, 2),
                        ["busbw_gb_s"] = Math.Round(report.BusBandwidth / 1e9, 2),
                    }.ToJsonString());
                else
                    AnsiConsole.MarkupLine(Markup.Escape($"NCCL {report.Version} ({report.Library}), {report.Ranks} rank(s), rank 0 on GPU {report.Gpu} ({report.GpuName}): every collective exact; " +
                        $"all-reduce of {report.TimedElements} float64 in {report.AllReduceSeconds * 1e3:F2} ms, algbw {report.AlgorithmBandwidth / 1e9:F1} GB/s, busbw {report.BusBandwidth / 1e9:F1} GB/s"));
                return 0;
            }));
        }));
        return command;
    }
}
