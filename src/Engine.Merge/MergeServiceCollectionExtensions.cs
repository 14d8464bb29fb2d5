using Engine.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Engine.Merge;

/// <summary>Registers the merge half of the engine; <c>AddEngine</c> (Engine.Pipeline) calls it with the training half.</summary>
public static class MergeServiceCollectionExtensions
{
    /// <summary>Adds <see cref="MergeService"/>, its kernel backends and <see cref="EngineOptions"/>; idempotent.</summary>
    public static IServiceCollection AddEngineMerge(this IServiceCollection services)
    {
        services.AddOptions<EngineOptions>();
        services.TryAddSingleton<IMergeKernelsFactory, MergeKernelsFactory>();
        services.TryAddTransient<MergeService>();
        return services;
    }
}
