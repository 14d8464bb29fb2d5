using Engine.Core;
using Engine.Training.Sft;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Engine.Training;

/// <summary>Registers the training half of the engine; <c>AddEngine</c> (Engine.Pipeline) calls it with the merge half.</summary>
public static class TrainingServiceCollectionExtensions
{
    /// <summary>Adds <see cref="SftService"/> and <see cref="EngineOptions"/>; idempotent.</summary>
    public static IServiceCollection AddEngineTraining(this IServiceCollection services)
    {
        services.AddOptions<EngineOptions>();
        services.TryAddTransient<SftService>();
        return services;
    }
}
