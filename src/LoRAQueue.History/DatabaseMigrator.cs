using System.Reflection;
using DbUp;
using DbUp.Engine.Output;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace LoRAQueue.History;

/// <summary>Scripts applied by one <see cref="DatabaseMigrator.Migrate"/> call (empty when the database was current).</summary>
public sealed record MigrationResult(IReadOnlyList<string> Applied);

public sealed class MigrationException(string message, Exception? inner) : Exception(message, inner);

/// <summary>
/// Applies migrations/*.sql (embedded in this assembly) in name order with DbUp, each script in its own
/// transaction, journaled in <c>schemaversions</c>. DbUp takes no lock of its own, so the whole run holds a
/// Postgres advisory lock: services starting together apply each script exactly once.
/// </summary>
public static class DatabaseMigrator
{
    /// <summary>Advisory lock key ("LoRAQueu" in ASCII); any process migrating this database takes the same one.</summary>
    public const long AdvisoryLockKey = 0x4C6F5241_51756575;

    private const string ResourcePrefix = "migrations.";

    /// <summary>Embedded script names in the order they apply, e.g. "migrations.0001_jobs.sql".</summary>
    public static IReadOnlyList<string> ScriptNames { get; } = typeof(DatabaseMigrator).Assembly.GetManifestResourceNames()
        .Where(IsMigration).Order(StringComparer.Ordinal).ToArray();

    public static MigrationResult Migrate(string connectionString, ILogger? logger = null, TimeSpan? lockTimeout = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionString);
        logger ??= NullLogger.Instance;
        using var lockConnection = new NpgsqlConnection(connectionString);
        lockConnection.Open();
        WithLock(lockConnection, "SELECT pg_advisory_lock(@key)", lockTimeout ?? TimeSpan.FromMinutes(10));
        try
        {
            var upgrader = DeployChanges.To.PostgresqlDatabase(connectionString)
                .WithScriptsEmbeddedInAssembly(typeof(DatabaseMigrator).Assembly, IsMigration)
                .WithTransactionPerScript()
                .WithVariablesDisabled()
                .LogTo(new UpgradeLog(logger))
                .Build();
            var result = upgrader.PerformUpgrade();
            if (!result.Successful)
                throw new MigrationException(
                    $"migration {result.ErrorScript?.Name ?? "(before any script)"} failed: {result.Error?.Message}", result.Error);
            var applied = result.Scripts.Select(s => s.Name).ToList();
            logger.LogInformation("Database migrations: {Count} applied ({Scripts})", applied.Count, string.Join(", ", applied));
            return new MigrationResult(applied);
        }
        finally
        {
            WithLock(lockConnection, "SELECT pg_advisory_unlock(@key)", TimeSpan.FromSeconds(30));
        }
    }

    private static void WithLock(NpgsqlConnection connection, string sql, TimeSpan timeout)
    {
        using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = (int)Math.Ceiling(timeout.TotalSeconds) };
        command.Parameters.AddWithValue("key", AdvisoryLockKey);
        command.ExecuteNonQuery();
    }

    private static bool IsMigration(string resourceName) =>
        resourceName.StartsWith(ResourcePrefix, StringComparison.Ordinal) && resourceName.EndsWith(".sql", StringComparison.Ordinal);

    /// <summary>DbUp's log to Microsoft.Extensions.Logging; script progress at Debug.</summary>
    private sealed class UpgradeLog(ILogger logger) : IUpgradeLog
    {
        public void LogTrace(string format, params object[] args) => logger.LogTrace("{Message}", Format(format, args));
        public void LogDebug(string format, params object[] args) => logger.LogDebug("{Message}", Format(format, args));
        public void LogInformation(string format, params object[] args) => logger.LogDebug("{Message}", Format(format, args));
        public void LogWarning(string format, params object[] args) => logger.LogWarning("{Message}", Format(format, args));
        public void LogError(string format, params object[] args) => logger.LogError("{Message}", Format(format, args));
        public void LogError(Exception ex, string format, params object[] args) => logger.LogError(ex, "{Message}", Format(format, args));

        private static string Format(string format, object[] args) => args.Length == 0 ? format : string.Format(format, args);
    }
}
