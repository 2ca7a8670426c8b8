namespace LoRAQueue.History.Tests;

/// <summary>ListAsync on a seeded history: filters return exactly the matching jobs; pages walk them once, in order.</summary>
public abstract class JobHistoryQueryTests(IJobHistory history, SeededJobs seeded)
{
    private static readonly CancellationToken Ct = CancellationToken.None;

    public static TheoryData<string> Filters => new(FilterCases.Keys);

    private static readonly Dictionary<string, Func<SeededJobs, JobQuery>> FilterCases = new()
    {
        ["none"] = _ => new JobQuery(),
        ["tenant"] = _ => new JobQuery(Tenant: "globex"),
        ["adapter"] = _ => new JobQuery(AdapterId: "ad-32"),
        ["status queued"] = _ => new JobQuery(Status: JobStatus.Queued),
        ["status running"] = _ => new JobQuery(Status: JobStatus.Running),
        ["status completed"] = _ => new JobQuery(Status: JobStatus.Completed),
        ["status failed"] = _ => new JobQuery(Status: JobStatus.Failed),
        ["since (inclusive)"] = s => new JobQuery(Since: s.NthNewest(40)),
        ["until (exclusive)"] = s => new JobQuery(Until: s.NthNewest(40)),
        ["since and until"] = s => new JobQuery(Since: s.NthNewest(100), Until: s.NthNewest(20)),
        ["tenant and status"] = _ => new JobQuery(Tenant: "acme", Status: JobStatus.Completed),
        ["tenant and adapter"] = _ => new JobQuery(Tenant: "initech", AdapterId: "ad-8"),
        ["adapter and time range"] = s => new JobQuery(AdapterId: "ad-128", Since: s.NthNewest(120), Until: s.NthNewest(10)),
        ["every filter"] = s => new JobQuery("acme", "ad-8", JobStatus.Failed, s.NthNewest(149), s.NthNewest(0).AddTicks(10)),
        ["unknown tenant"] = _ => new JobQuery(Tenant: "nobody"),
        ["empty range"] = s => new JobQuery(Since: s.NthNewest(10), Until: s.NthNewest(10)),
        ["local-time offsets"] = s => new JobQuery(Since: s.NthNewest(90).ToOffset(TimeSpan.FromHours(-5)),
                                                   Until: s.NthNewest(30).ToOffset(TimeSpan.FromHours(9))),
    };

    [Theory]
    [MemberData(nameof(Filters))]
    public async Task Filter_returns_exactly_the_matching_jobs_newest_first(string filter)
    {
        var query = FilterCases[filter](seeded) with { Limit = JobQuery.MaxLimit };
        var expected = seeded.Expected(query);

        var page = await history.ListAsync(query, Ct);

        Assert.Equal(expected, page.Items.Select(j => j.JobId));
        Assert.Null(page.Next);
    }

    [Theory]
    [MemberData(nameof(Filters))]
    public async Task Paging_a_filter_walks_the_same_jobs(string filter)
    {
        var query = FilterCases[filter](seeded) with { Limit = 7 };
        Assert.Equal(seeded.Expected(query), await WalkAsync(query));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(10)]   // 150 jobs: the last page is exactly full
    [InlineData(13)]
    [InlineData(149)]
    [InlineData(150)]
    public async Task Keyset_pages_walk_every_job_exactly_once_in_order(int limit)
    {
        var walked = await WalkAsync(new JobQuery(Limit: limit));
        Assert.Equal(seeded.Expected(new JobQuery()), walked);
        Assert.Equal(walked.Count, walked.Distinct().Count());
    }

    [Fact]
    public async Task An_empty_cursor_means_the_first_page()
    {
        var first = await history.ListAsync(new JobQuery(Limit: 5), Ct);
        var empty = await history.ListAsync(new JobQuery(Limit: 5, After: ""), Ct);
        Assert.Equal(first.Items.Select(j => j.JobId), empty.Items.Select(j => j.JobId));
    }

    [Fact]
    public async Task A_page_that_holds_everything_has_no_next()
    {
        var page = await history.ListAsync(new JobQuery(Limit: seeded.Jobs.Count), Ct);
        Assert.Equal(seeded.Jobs.Count, page.Items.Count);
        Assert.Null(page.Next);
    }

    [Fact]
    public async Task Listed_jobs_carry_all_their_fields()
    {
        var page = await history.ListAsync(new JobQuery(Status: JobStatus.Completed, Limit: 1000), Ct);
        foreach (var listed in page.Items)
            JobAssert.Same(seeded.Jobs.Single(j => j.JobId == listed.JobId), listed);
    }

    [Theory]
    [InlineData("not-a-cursor")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public async Task A_cursor_this_service_did_not_issue_is_refused(string cursor)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => history.ListAsync(new JobQuery(After: cursor), Ct));
        Assert.Contains("cursor", error.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(JobQuery.MaxLimit + 1)]
    public async Task A_page_size_out_of_range_is_refused(int limit)
    {
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => history.ListAsync(new JobQuery(Limit: limit), Ct));
    }

    private async Task<List<Guid>> WalkAsync(JobQuery query)
    {
        var ids = new List<Guid>();
        string? after = null;
        int maxPages = seeded.Jobs.Count / query.Limit + 2;
        for (int pages = 0; ; pages++)
        {
            Assert.True(pages < maxPages, "pagination does not end");
            var page = await history.ListAsync(query with { After = after }, Ct);
            ids.AddRange(page.Items.Select(j => j.JobId));
            if (page.Next is null) return ids;
            Assert.Equal(query.Limit, page.Items.Count); // only the last page may be short
            after = page.Next;
        }
    }
}

public sealed class InMemorySeededHistory : IAsyncLifetime
{
    public IJobHistory History { get; } = new InMemoryJobHistory();
    public SeededJobs Seeded { get; private set; } = null!;
    public async Task InitializeAsync() => Seeded = await SeededJobs.RecordAsync(History);
    public Task DisposeAsync() => Task.CompletedTask;
}

public sealed class PostgresSeededHistory : IAsyncLifetime
{
    private TestDatabase? _database;
    public IJobHistory History { get; private set; } = null!;
    public SeededJobs Seeded { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _database = await PostgresServer.CreateDatabaseAsync();
        History = new PostgresJobHistory(_database.DataSource);
        Seeded = await SeededJobs.RecordAsync(History);
    }

    public async Task DisposeAsync()
    {
        if (_database is not null) await _database.DisposeAsync();
    }
}

public sealed class InMemoryJobHistoryQueryTests(InMemorySeededHistory f)
    : JobHistoryQueryTests(f.History, f.Seeded), IClassFixture<InMemorySeededHistory>;

public sealed class PostgresJobHistoryQueryTests(PostgresSeededHistory f)
    : JobHistoryQueryTests(f.History, f.Seeded), IClassFixture<PostgresSeededHistory>;
