using Engine.Core;
using Engine.Merge;
using Engine.Pipeline.Running;
using Engine.Training;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Engine.Pipeline;

/// <summary>The library entry point: <c>services.AddEngine()</c> gives a host the same services the <c>engine</c>
/// command uses: merging (<see cref="MergeService"/>), training (<see cref="Training.Sft.SftService"/>) and the
/// pipeline that composes them (<see cref="PipelineRunner"/>).</summary>
public static class EngineServiceCollectionExtensions
{
    /// <summary>Adds the merge and training services and the pipeline runner.</summary>
    /// <param name="services">The host's services.</param>
    /// <param name="configure">Sets the engine-wide <see cref="EngineOptions"/> (device, threads).</param>
    public static IServiceCollection AddEngine(this IServiceCollection services, Action<EngineOptions>? configure = null)
    {
        var builder = services.AddOptions<EngineOptions>();
        if (configure != null) builder.Configure(configure);
        services.AddEngineMerge();
        services.AddEngineTraining();
        services.TryAddTransient<PipelineRunner>();
        return services;
    }
}
