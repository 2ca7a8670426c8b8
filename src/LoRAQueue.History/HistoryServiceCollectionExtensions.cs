using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Npgsql;

namespace LoRAQueue.History;

/// <summary>Registration for hosts: the Postgres stores share one <see cref="NpgsqlDataSource"/> (one pool).</summary>
public static class HistoryServiceCollectionExtensions
{
    /// <summary>IJobHistory (and IAdapterRegistry when <paramref name="adapters"/> is given) on Postgres.
    /// Run <see cref="DatabaseMigrator.Migrate"/> before use.</summary>
    public static IServiceCollection AddPostgresHistory(this IServiceCollection services, string connectionString,
                                                        AdapterValidator? adapters = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionString);
        services.TryAddSingleton(_ => NpgsqlDataSource.Create(connectionString));
        services.AddSingleton<IJobHistory, PostgresJobHistory>();
        if (adapters is not null)
            services.AddSingleton<IAdapterRegistry>(sp => new PostgresAdapterRegistry(sp.GetRequiredService<NpgsqlDataSource>(), adapters));
        return services;
    }

    /// <summary>The in-memory stores, for the embedded demo.</summary>
    public static IServiceCollection AddInMemoryHistory(this IServiceCollection services, AdapterValidator? adapters = null)
    {
        services.AddSingleton<IJobHistory>(_ => new InMemoryJobHistory());
        if (adapters is not null)
            services.AddSingleton<IAdapterRegistry>(_ => new InMemoryAdapterRegistry(adapters));
        return services;
    }
}
