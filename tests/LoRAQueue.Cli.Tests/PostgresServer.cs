using LoRAQueue.History;
using Npgsql;

namespace LoRAQueue.Cli.Tests;

/// <summary>The PostgreSQL that scripts/services.sh started. Without it these tests fail, saying how to start it.</summary>
public static class PostgresServer
{
    public const string Variable = "LORAQUEUE__POSTGRES__CONNECTIONSTRING";

    public static string AdminConnectionString =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{Variable} is not set: the database command tests need the real PostgreSQL. Run scripts/test.sh, or " +
                "`bash scripts/services.sh start && eval \"$(bash scripts/services.sh env)\"` before dotnet test.");

    /// <summary>A new database with a random name (migrated unless asked not to); dropped on dispose.</summary>
    public static async Task<TestDatabase> CreateDatabaseAsync(bool migrate = true)
    {
        string name = "lq_cli_" + Guid.NewGuid().ToString("N");
        await using (var admin = new NpgsqlConnection(AdminConnectionString))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", admin);
            await create.ExecuteNonQueryAsync();
        }
        string connectionString = new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = name, MaxPoolSize = 10 }.ConnectionString;
        if (migrate) DatabaseMigrator.Migrate(connectionString);
        return new TestDatabase(name, connectionString);
    }
}

public sealed class TestDatabase(string name, string connectionString) : IAsyncDisposable
{
    public string Name { get; } = name;
    public string ConnectionString { get; } = connectionString;
    public NpgsqlDataSource DataSource { get; } = NpgsqlDataSource.Create(connectionString);

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync();
        await using (var pooled = new NpgsqlConnection(ConnectionString)) NpgsqlConnection.ClearPool(pooled);
        await using var admin = new NpgsqlConnection(PostgresServer.AdminConnectionString);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", admin);
        await drop.ExecuteNonQueryAsync();
    }
}
