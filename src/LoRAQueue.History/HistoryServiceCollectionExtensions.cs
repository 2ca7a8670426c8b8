using LoRAQueue.History.Tenants;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace LoRAQueue.History;

/// <summary>The one registration of the job history for every host.</summary>
public static class HistoryServiceCollectionExtensions
{
    /// <summary>
    /// With a connection string: the database migrated now when <paramref name="migrate"/> (DbUp under the migrator's
    /// advisory lock, so hosts starting together apply each script once), one <see cref="NpgsqlDataSource"/> (one pool)
    /// and on it <see cref="IJobHistory"/>, <see cref="IAdapterRegistry"/> and the <see cref="TenantStore"/>. Without one:
    /// the in-memory history and registry of a single-process run, shared with nothing (needs <paramref name="adapters"/>).
    /// </summary>
    /// <param name="adapters">Checks adapters being registered against the model; null: a registry that only reads.</param>
    public static IServiceCollection AddJobHistory(this IServiceCollection services, string? connectionString,
                                                   AdapterValidator? adapters = null, bool migrate = true, ILogger? logger = null)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            ArgumentNullException.ThrowIfNull(adapters);
            logger?.LogWarning("LoRAQueue:Postgres:ConnectionString is not set: job history and adapter registry are in-memory");
            services.TryAddSingleton<IJobHistory>(new InMemoryJobHistory());
            services.TryAddSingleton<IAdapterRegistry>(new InMemoryAdapterRegistry(adapters));
            return services;
        }
        if (migrate) DatabaseMigrator.Migrate(connectionString, logger);
        services.TryAddSingleton(_ => NpgsqlDataSource.Create(connectionString));
        services.TryAddSingleton<IJobHistory>(sp => new PostgresJobHistory(sp.GetRequiredService<NpgsqlDataSource>()));
        services.TryAddSingleton<IAdapterRegistry>(sp => new PostgresAdapterRegistry(sp.GetRequiredService<NpgsqlDataSource>(), adapters));
        services.AddTenantStore();
        return services;
    }
}
