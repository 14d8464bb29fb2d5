using Engine.Kernels;
using Engine.Merge.Execution;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Engine.Merge;

/// <summary>Engine-wide settings a host configures once.</summary>
public sealed class EngineOptions
{
    /// <summary><c>--device</c>: auto, cpu, ...</summary>
    public string Device { get; set; } = "auto";

    /// <summary>Worker threads for CPU kernels; 0 means every core.</summary>
    public int Threads { get; set; }
}

/// <summary>The library entry point: <c>services.AddEngine()</c> gives a pipeline the same services the
/// <c>engine</c> command uses.</summary>
public static class EngineServiceCollectionExtensions
{
    public static IServiceCollection AddEngine(this IServiceCollection services, Action<EngineOptions>? configure = null)
    {
        var builder = services.AddOptions<EngineOptions>();
        if (configure != null) builder.Configure(configure);
        services.TryAddSingleton<IMergeKernelsFactory, MergeKernelsFactory>();
        services.TryAddTransient<MergeService>();
        return services;
    }
}

/// <summary>Makes kernel backends for a device name.</summary>
public interface IMergeKernelsFactory
{
    /// <summary>One backend (benchmarks, tools that drive one device).</summary>
    IMergeKernels Create(string? device = null, int? threads = null);

    /// <summary>The backends a merge spreads its tensors over (every GPU named, or all of them).</summary>
    KernelDevices CreateDevices(string? device = null, int? threads = null);
}

internal sealed class MergeKernelsFactory(IOptions<EngineOptions> options) : IMergeKernelsFactory
{
    public IMergeKernels Create(string? device = null, int? threads = null) =>
        KernelBackends.Create(device ?? options.Value.Device, threads ?? options.Value.Threads);

    public KernelDevices CreateDevices(string? device = null, int? threads = null) =>
        KernelBackends.CreateDevices(device ?? options.Value.Device, threads ?? options.Value.Threads);
}

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
