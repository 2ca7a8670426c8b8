using LoRAQueue.Core;
using LoRAQueue.History;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace LoRAQueue.Worker;

/// <summary>The job history and adapter registry: Postgres when LoRAQueue:Postgres:ConnectionString is set (migrated at
/// start-up), otherwise in-memory (a single-process demo: nothing is shared with other processes).</summary>
public static class HistoryServices
{
    public static void AddWorkerHistory(this IServiceCollection services, IConfiguration configuration, WorkerSettings settings,
                                        RankBuckets buckets, ILogger startupLogger)
    {
        var validator = AdapterValidator.ForModelDirectory(settings.AdapterStorePath, settings.ModelPath, buckets);
        var connectionString = configuration["LoRAQueue:Postgres:ConnectionString"];
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            startupLogger.LogWarning("LoRAQueue:Postgres:ConnectionString is not set: job history and adapter registry are in-memory");
            services.AddSingleton<IJobHistory>(new InMemoryJobHistory());
            services.AddSingleton<IAdapterRegistry>(new InMemoryAdapterRegistry(validator));
            return;
        }
        DatabaseMigrator.Migrate(connectionString, startupLogger);
        var dataSource = NpgsqlDataSource.Create(connectionString);
        services.AddSingleton(dataSource);
        services.AddSingleton<IJobHistory>(new PostgresJobHistory(dataSource));
        services.AddSingleton<IAdapterRegistry>(new PostgresAdapterRegistry(dataSource, validator));
    }
}
