using Engine.Merge.Execution;
using Microsoft.Extensions.Logging;

namespace Engine.Merge;

/// <summary>Runs merges for a host: loads the config, picks the backend, executes, reports.</summary>
public sealed class MergeService(IMergeKernelsFactory kernels, ILogger<MergeExecutor> logger)
{
    /// <summary>Loads the mergekit-style YAML config at <paramref name="configPath"/> and merges it into
    /// <see cref="MergeRunOptions.OutputPath"/>, off the caller's thread.</summary>
    /// <param name="configPath">The config; model paths in it are relative to its folder.</param>
    /// <param name="options">Where the output goes and how it is written.</param>
    /// <param name="device"><c>auto</c>, <c>cpu</c>, <c>cuda[:N[,M]]</c>, <c>ilgpu[:N]</c>; null: <see cref="Core.EngineOptions.Device"/>.</param>
    /// <param name="threads">CPU kernel threads; null: <see cref="Core.EngineOptions.Threads"/>.</param>
    /// <param name="progress">Told after every output tensor, on the merging thread.</param>
    /// <param name="cancellation">Stops the merge between tensors; nothing is left at the output path.</param>
    /// <returns>The output path and the per-tensor report (also written beside the output).</returns>
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
