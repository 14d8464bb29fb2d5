using Engine.Merge.Execution;
using Microsoft.Extensions.Logging;

namespace Engine.Merge;

/// <summary>Runs merges for a host: loads the config, picks the backend, executes, reports.</summary>
public sealed class MergeService(IMergeKernelsFactory kernels, ILogger<MergeExecutor> logger)
{
    public Task<MergeResult> RunAsync(string configPath, MergeRunOptions options, string? device = null, int? threads = null,
        IProgress<MergeProgress>? progress = null, CancellationToken cancellation = default) =>
        RunAsync(Config.MergeConfigReader.Load(configPath), options, device, threads, progress, cancellation);

    /// <summary>Runs an already loaded config (callers that show its warnings themselves load it once).</summary>
    public Task<MergeResult> RunAsync(Config.MergeConfig config, MergeRunOptions options, string? device = null, int? threads = null,
        IProgress<MergeProgress>? progress = null, CancellationToken cancellation = default)
    {
        return Task.Run(() =>
        {
            using var devices = kernels.CreateDevices(device, threads);
            return new MergeExecutor(devices.Devices, logger).Run(config, options, progress, cancellation);
        }, cancellation);
    }
}
