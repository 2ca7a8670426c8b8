using LoRAQueue.Messaging;
using LoRAQueue.Testing;
using Npgsql;

namespace LoRAQueue.History.Tests;

/// <summary>Which failures a consumer waits out and which it dead-letters at once, on errors from the real Postgres.</summary>
public sealed class OutageRetryTests(PostgresDatabaseFixture db) : IClassFixture<PostgresDatabaseFixture>
{
    [Fact]
    public async Task A_value_the_database_refuses_is_not_retried()
    {
        // 22021: what a text column says to U+0000. Retrying it only held the recorder's slots for half a minute.
        await using var command = db.Database.DataSource.CreateCommand("SELECT convert_from('\\x00'::bytea, 'UTF8')");
        var refused = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteScalarAsync());
        Assert.Equal("22021", refused.SqlState);
        Assert.False(OutageRetry.IsTransient(refused));
    }

    [Fact]
    public async Task A_database_that_is_not_there_is_waited_for()
    {
        var nowhere = new NpgsqlConnectionStringBuilder(db.Database.ConnectionString) { Port = LoopbackPort.Free(), Timeout = 2 };
        await using var dataSource = NpgsqlDataSource.Create(nowhere.ConnectionString);
        var down = await Assert.ThrowsAsync<NpgsqlException>(async () => await dataSource.OpenConnectionAsync());
        Assert.True(OutageRetry.IsTransient(down), down.ToString());
        Assert.True(OutageRetry.IsTransient(new InvalidOperationException("wrapped", down)));
        Assert.False(OutageRetry.IsTransient(new InvalidOperationException("a bug")));
    }
}
