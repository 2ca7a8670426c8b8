using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace LoRAQueue.History.Tenants;

public static class TenantServiceCollectionExtensions
{
    /// <summary>Adds <see cref="TenantStore"/> on the host's NpgsqlDataSource (AddJobHistory registers one).</summary>
    public static IServiceCollection AddTenantStore(this IServiceCollection services)
    {
        services.TryAddSingleton<TenantStore>();
        return services;
    }
}
