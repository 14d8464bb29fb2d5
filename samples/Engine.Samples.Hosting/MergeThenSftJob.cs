using Engine.Core;
using Engine.Interop.Trainer;
using Engine.Merge;
using Engine.Merge.Execution;
using Engine.Training.Sft;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Engine.Samples.Hosting;

/// <summary>The host's one job: merge two generated experts with Arcee Fusion, then fine-tune the merged model for a
/// few steps. Both runs report progress through <see cref="IProgress{T}"/> and stop at Ctrl+C (the host cancels
/// <c>stoppingToken</c>); the process exit code says how it ended (0 done, 1 failed, 130 cancelled).</summary>
public sealed class MergeThenSftJob(
    MergeService merges,
    SftService training,
    IOptions<EngineOptions> engine,
    IOptions<SampleOptions> options,
    IHostApplicationLifetime lifetime,
    ILogger<MergeThenSftJob> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        bool temporary = string.IsNullOrEmpty(options.Value.WorkDir);
        string root = temporary ? Directory.CreateTempSubdirectory("engine-sample-").FullName : Path.GetFullPath(options.Value.WorkDir);
        try
        {
            string config = TinyInputs.WriteMergeInputs(root);
            logger.LogInformation("merging {Config} on {Device}", config, engine.Value.Device);
            var mergeProgress = new LoggedProgress<MergeProgress>(p =>
            {
                if (p.Done == p.Total || p.Done % 8 == 0) logger.LogInformation("merge: {Done}/{Total} tensors ({Tensor})", p.Done, p.Total, p.Tensor);
            });
            var merged = await merges.RunAsync(config, new MergeRunOptions(Path.Combine(root, "merged")) { Overwrite = true },
                progress: mergeProgress, cancellation: stoppingToken);
            var totals = merged.Report.Totals;
            logger.LogInformation("merged {Tensors} tensors into {Output}: kept {Kept:P1} of the deltas in {Seconds:F2} s",
                totals.Tensors, merged.OutputPath, totals.KeptFraction, totals.Seconds);

            var request = new SftRequest(merged.OutputPath, TinyInputs.Examples(32), Path.Combine(root, "sft"),
                new SftOptions(1e-3, maxSteps: options.Value.SftSteps, batchSize: 2, seqLen: 64, threads: engine.Value.Threads))
            { OverwriteOutputDir = true, Log = line => logger.LogInformation("sft: {Line}", line) };
            var sftProgress = new LoggedProgress<SftStepMetrics>(m =>
                logger.LogInformation("sft: step {Step}/{Total} loss {Loss:F4} lr {Lr:G3}", m.Step, m.TotalSteps, m.Loss, m.Lr));
            var trained = await training.RunAsync(request, sftProgress, stoppingToken);
            logger.LogInformation("trained {Steps} steps; final checkpoint {Checkpoint}", trained.Steps, trained.FinalCheckpoint);
            // Which build of the packaged native trainer ran: x86-64-v3 where the CPU has it, else the baseline.
            logger.LogInformation("native trainer: {Library}", NativeTrainerLibrary.LoadedName);
            Environment.ExitCode = 0;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            logger.LogWarning("cancelled; finished checkpoints stay under {Root}", root);
            Environment.ExitCode = 130;
        }
        catch (Exception e) when (e is EngineException or IOException or ArgumentException)
        {
            // The engine's own errors are one line that names the file and the problem.
            logger.LogError("{Message}", e.Message);
            Environment.ExitCode = 1;
        }
        catch (Exception e)
        {
            logger.LogError(e, "unexpected failure");
            Environment.ExitCode = 1;
        }
        finally
        {
            if (temporary && Environment.ExitCode == 0) Directory.Delete(root, recursive: true);
            lifetime.StopApplication();
        }
    }

    /// <summary>Reports on the caller's thread, in order (unlike <see cref="Progress{T}"/>, which posts them).</summary>
    private sealed class LoggedProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
