using LoRAQueue.History;
using Npgsql;
using StackExchange.Redis;

namespace LoRAQueue.Scheduler.Tests;

/// <summary>The shared <see cref="RedisFixture"/>, with the lease's code paths warmed (JIT, script cache) so that the first
/// timed call in a test is not the slowest.</summary>
public sealed class WarmRedisFixture : RedisFixture
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        var warm = new SchedulerLease(Redis, "warm-up", TimeSpan.FromSeconds(5), Prefix + "warm-up:");
        await warm.AcquireOrRenewAsync();
        await warm.AcquireOrRenewAsync();
        await warm.NextEpochAsync();
        await warm.ReleaseAsync();
    }
}

/// <summary>A fresh, migrated Postgres database per test class (server from scripts/services.sh); dropped afterwards.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public const string Variable = "LORAQUEUE__POSTGRES__CONNECTIONSTRING";

    private string _admin = "";
    private readonly string _name = "lq_scheduler_" + Guid.NewGuid().ToString("N");

    public NpgsqlDataSource DataSource { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _admin = Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value
            : throw new InvalidOperationException($"{Variable} is not set: these tests need the real PostgreSQL. Run " +
                                                  "`bash scripts/services.sh start` and `eval \"$(bash scripts/services.sh env)\"` first.");
        await using (var admin = new NpgsqlConnection(_admin))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {_name}", admin);
            await create.ExecuteNonQueryAsync();
        }
        string connectionString = new NpgsqlConnectionStringBuilder(_admin) { Database = _name, MaxPoolSize = 10 }.ConnectionString;
        DatabaseMigrator.Migrate(connectionString);
        DataSource = NpgsqlDataSource.Create(connectionString);
    }

    public async Task DisposeAsync()
    {
        if (DataSource is not null) await DataSource.DisposeAsync();
        await using var admin = new NpgsqlConnection(_admin);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_name} WITH (FORCE)", admin);
        await drop.ExecuteNonQueryAsync();
    }
}
