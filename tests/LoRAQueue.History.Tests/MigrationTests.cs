using Dapper;
using Npgsql;

namespace LoRAQueue.History.Tests;

/// <summary>DatabaseMigrator on fresh databases of the real Postgres.</summary>
public sealed class MigrationTests
{
    [Fact]
    public void Every_migration_file_is_embedded_in_name_order()
    {
        string[] files = Directory.GetFiles(Path.Combine(RepositoryRoot(), "migrations"), "*.sql")
            .Select(f => "migrations." + Path.GetFileName(f)).Order(StringComparer.Ordinal).ToArray();
        Assert.NotEmpty(files);
        Assert.Equal(files, DatabaseMigrator.ScriptNames);
    }

    [Fact]
    public async Task Migrating_twice_applies_each_script_once()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync(migrate: false);

        var first = DatabaseMigrator.Migrate(db.ConnectionString);
        var second = DatabaseMigrator.Migrate(db.ConnectionString);

        Assert.Equal(DatabaseMigrator.ScriptNames, first.Applied);
        Assert.Empty(second.Applied);
        Assert.Equal(DatabaseMigrator.ScriptNames, await JournalAsync(db));
        Assert.Equal(["adapters", "api_keys", "batches", "idempotency_keys", "jobs", "placements", "schemaversions", "tenants",
                      "webhook_attempts", "webhook_deliveries"], await TablesAsync(db));
    }

    [Fact]
    public async Task Concurrent_start_ups_apply_each_script_exactly_once()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync(migrate: false);

        var runs = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => Task.Run(() => DatabaseMigrator.Migrate(db.ConnectionString))));

        Assert.Equal(DatabaseMigrator.ScriptNames, runs.SelectMany(r => r.Applied).Order(StringComparer.Ordinal));
        Assert.Equal(DatabaseMigrator.ScriptNames, await JournalAsync(db));
    }

    [Fact]
    public async Task A_failing_migration_names_its_script()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync(migrate: false);
        await using (var conn = await db.DataSource.OpenConnectionAsync())
            await conn.ExecuteAsync("CREATE TABLE jobs (x int)"); // the first script's table, already there

        var error = Assert.Throws<MigrationException>(() => DatabaseMigrator.Migrate(db.ConnectionString));

        Assert.Contains("0001_jobs.sql", error.Message);
        Assert.Empty(await JournalAsync(db));
    }

    [Fact]
    public async Task The_schema_refuses_a_status_rank_that_does_not_match_the_status()
    {
        await using var db = await PostgresServer.CreateDatabaseAsync();
        await using var conn = await db.DataSource.OpenConnectionAsync();
        var error = await Assert.ThrowsAsync<PostgresException>(() => conn.ExecuteAsync(
            "INSERT INTO jobs (job_id, tenant, status, status_rank, submitted_at) VALUES (gen_random_uuid(), 't', 'completed', 1, now())"));
        Assert.Equal(PostgresErrorCodes.CheckViolation, error.SqlState);
    }

    private static async Task<List<string>> JournalAsync(TestDatabase db)
    {
        await using var conn = await db.DataSource.OpenConnectionAsync();
        bool exists = await conn.ExecuteScalarAsync<bool>("SELECT to_regclass('public.schemaversions') IS NOT NULL");
        return exists ? (await conn.QueryAsync<string>("SELECT scriptname FROM schemaversions ORDER BY scriptname")).ToList() : [];
    }

    private static async Task<List<string>> TablesAsync(TestDatabase db)
    {
        await using var conn = await db.DataSource.OpenConnectionAsync();
        return (await conn.QueryAsync<string>(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name")).ToList();
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LoRAQueue.sln"))) return dir.FullName;
        throw new InvalidOperationException("repository root (LoRAQueue.sln) not found above " + AppContext.BaseDirectory);
    }
}
