using Dapper;

namespace LoRAQueue.History.Tests;

/// <summary>Each history query users run has an index that serves its filter (and its newest-first order), so on a
/// realistically sized table the planner reads through that index, never the whole table.</summary>
public sealed class QueryPlanTests(QueryPlanTests.FilledJobs jobs) : IClassFixture<QueryPlanTests.FilledJobs>
{
    private static readonly DateTimeOffset Start = new(2025, 3, 1, 0, 0, 0, TimeSpan.Zero);

    public static TheoryData<string, string> Queries => new()
    {
        { "none", "jobs_submitted_idx" },
        { "time range", "jobs_submitted_idx" },
        { "tenant", "jobs_tenant_submitted_idx" },
        { "tenant and status", "jobs_tenant_status_submitted_idx" },
        { "adapter", "jobs_adapter_submitted_idx" },
        { "status", "jobs_status_submitted_idx" },
    };

    private static JobQuery Query(string name) => name switch
    {
        "none" => new JobQuery(),
        "time range" => new JobQuery(Since: Start.AddHours(2), Until: Start.AddHours(5)),
        "tenant" => new JobQuery(Tenant: "tenant-7"),
        "tenant and status" => new JobQuery(Tenant: "tenant-7", Status: JobStatus.Failed),
        "adapter" => new JobQuery(AdapterId: "ad-13"),
        "status" => new JobQuery(Status: JobStatus.Running),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [MemberData(nameof(Queries))]
    public async Task Query_reads_through_its_index(string query, string index)
    {
        await using var conn = await jobs.Database.DataSource.OpenConnectionAsync();
        var middle = new JobCursor(Start.AddHours(6), Guid.NewGuid());
        foreach (var cursor in new JobCursor?[] { null, middle })
        {
            var (sql, parameters) = JobSql.List(Query(query), cursor);
            string plan = string.Join("\n", await conn.QueryAsync<string>("EXPLAIN " + sql, parameters));

            // An index scan in page order; for a handful of rows the planner may prefer a bitmap scan and a tiny sort.
            Assert.Matches($@"(Index Scan using|Index Only Scan using|Bitmap Index Scan on) {index}\b", plan);
            Assert.DoesNotContain("Seq Scan", plan);
        }
    }

    /// <summary>50,000 jobs, one per second, over 50 tenants and 200 adapters (a seventh on the base model); most
    /// completed, a few queued, running or failed — as in a live system.</summary>
    public sealed class FilledJobs : IAsyncLifetime
    {
        private TestDatabase? _database;
        public TestDatabase Database => _database!;

        public async Task InitializeAsync()
        {
            _database = await PostgresServer.CreateDatabaseAsync();
            await using var conn = await _database.DataSource.OpenConnectionAsync();
            await conn.ExecuteAsync("""
                SELECT setseed(0.42);
                INSERT INTO jobs (job_id, tenant, adapter_id, rank_bucket, status, status_rank, submitted_at)
                SELECT gen_random_uuid(), 'tenant-' || floor(random() * 50), CASE WHEN i % 7 = 0 THEN NULL ELSE 'ad-' || floor(random() * 200) END,
                       16, status, CASE status WHEN 'queued' THEN 0 WHEN 'running' THEN 1 ELSE 2 END, @Start + i * interval '1 second'
                FROM (SELECT i, CASE WHEN r < 0.01 THEN 'queued' WHEN r < 0.03 THEN 'running' WHEN r < 0.06 THEN 'failed' ELSE 'completed' END AS status
                      FROM (SELECT i, random() AS r FROM generate_series(1, 50000) AS i) AS drawn) AS jobs_to_be;
                ANALYZE jobs;
                """, new { Start });
        }

        public async Task DisposeAsync()
        {
            if (_database is not null) await _database.DisposeAsync();
        }
    }
}
