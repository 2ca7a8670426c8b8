using Npgsql;

using LoRAQueue.History;
using Xunit;

namespace LoRAQueue.Testing;

/// <summary>The Postgres that scripts/services.sh started. Tests never pass without it: they fail saying how to start it.</summary>
public static class PostgresServer
{
    public const string Variable = "LORAQUEUE__POSTGRES__CONNECTIONSTRING";

    public static string AdminConnectionString =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{Variable} is not set: these tests need the real PostgreSQL. Run scripts/test.sh, or " +
                "`bash scripts/services.sh start && source .cache/services/services.env` before dotnet test.");

    /// <summary>A new database with a random name, migrated unless asked not to; dropped on dispose.</summary>
    public static async Task<TestDatabase> CreateDatabaseAsync(bool migrate = true)
    {
        string name = "lq_test_" + Guid.NewGuid().ToString("N");
        await using (var admin = new NpgsqlConnection(AdminConnectionString))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", admin);
            await create.ExecuteNonQueryAsync();
        }
        // A small pool per database: test classes (and other test projects) share the server's connection limit.
        string connectionString = new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = name, MaxPoolSize = 20 }.ConnectionString;
        var database = new TestDatabase(name, connectionString);
        if (migrate) DatabaseMigrator.Migrate(connectionString);
        return database;
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

/// <summary>One migrated database per test class.</summary>
public sealed class PostgresDatabaseFixture : IAsyncLifetime
{
    private TestDatabase? _database;

    public TestDatabase Database => _database ?? throw new InvalidOperationException("fixture not initialised");

    public async Task InitializeAsync() => _database = await PostgresServer.CreateDatabaseAsync();

    public async Task DisposeAsync()
    {
        if (_database is not null) await _database.DisposeAsync();
    }
}
