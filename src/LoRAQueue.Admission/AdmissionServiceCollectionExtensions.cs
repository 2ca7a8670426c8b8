using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace LoRAQueue.Admission;

public static class AdmissionServiceCollectionExtensions
{
    /// <summary><see cref="JobIntake"/> over the model at <paramref name="modelPath"/>. Needs IAdapterRegistry, IJobHistory and
    /// the bus (AddLoRAQueueBus) registered by the host.</summary>
    public static IServiceCollection AddJobIntake(this IServiceCollection services, string modelPath, int maxTokens)
    {
        services.TryAddSingleton(_ => new ModelLimits(modelPath, maxTokens));
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<JobIntake>();
        return services;
    }
}
