using System.Globalization;
using System.Text.Json;
using LoRAQueue.History;
using LoRAQueue.Workloads;

namespace LoRAQueue.Cli.Tests;

/// <summary>`loraqueue jobs list|show|export` against the real PostgreSQL, run in-process with captured output.</summary>
public sealed class JobsCommandTests(SeededHistory seeded) : IClassFixture<SeededHistory>
{
    private async Task<(IReadOnlyList<Guid> Ids, string? Next)> ListAsync(params string[] args)
    {
        var result = await CliRun.InvokeAsync(["jobs", "list", "--connection", seeded.ConnectionString, "--json", .. args]);
        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Output);
        var ids = json.RootElement.GetProperty("items").EnumerateArray().Select(j => j.GetProperty("job_id").GetGuid()).ToList();
        return (ids, json.RootElement.TryGetProperty("next", out var next) ? next.GetString() : null);
    }

    private static string Iso(DateTimeOffset t) => t.ToString("O", CultureInfo.InvariantCulture);

    [Fact]
    public async Task Adapter_filter_returns_exactly_that_adapters_jobs_newest_first()
    {
        var (ids, next) = await ListAsync("--adapter", "ad-32", "--limit", "1000");

        Assert.Equal(seeded.Expected(j => j.AdapterId == "ad-32"), ids);
        Assert.NotEmpty(ids);
        Assert.Null(next);
    }

    [Theory]
    [InlineData("queued", JobStatus.Queued)]
    [InlineData("running", JobStatus.Running)]
    [InlineData("COMPLETED", JobStatus.Completed)]
    [InlineData("failed", JobStatus.Failed)]
    public async Task Status_filter_returns_exactly_the_jobs_in_that_status(string status, JobStatus expected)
    {
        var (ids, _) = await ListAsync("--status", status, "--limit", "1000");

        Assert.Equal(seeded.Expected(j => j.Status == expected), ids);
    }

    [Fact]
    public async Task Tenant_adapter_and_status_filters_combine()
    {
        var (ids, _) = await ListAsync("--tenant", "acme", "--adapter", "ad-8", "--status", "completed");

        Assert.Equal(seeded.Expected(j => j.Tenant == "acme" && j.AdapterId == "ad-8" && j.Status == JobStatus.Completed), ids);
        Assert.NotEmpty(ids);
    }

    [Fact]
    public async Task Since_is_inclusive_and_until_exclusive()
    {
        var from = seeded.Jobs[20].SubmittedAt;
        var to = seeded.Jobs[5].SubmittedAt;

        var (ids, _) = await ListAsync("--since", Iso(from), "--until", Iso(to), "--limit", "1000");

        Assert.Equal(seeded.Expected(j => j.SubmittedAt >= from && j.SubmittedAt < to), ids);
        Assert.Equal(15, ids.Count); // jobs 20 … 6
    }

    [Fact]
    public async Task Since_and_until_accept_ages_and_other_offsets()
    {
        var (recent, _) = await ListAsync("--since", "10m", "--limit", "1000");
        var (older, _) = await ListAsync("--until", "10m", "--limit", "1000");
        var (shifted, _) = await ListAsync("--since", Iso(seeded.Jobs[3].SubmittedAt.ToOffset(TimeSpan.FromHours(-5))), "--limit", "1000");

        Assert.Equal(seeded.Jobs.Take(10).Select(j => j.JobId), recent); // submitted 30 s … 9.5 min ago
        Assert.Equal(seeded.Jobs.Skip(10).Select(j => j.JobId), older);
        Assert.Equal(seeded.Jobs.Take(4).Select(j => j.JobId), shifted);
    }

    [Fact]
    public async Task Pages_follow_the_printed_cursor_through_every_job_once()
    {
        var walked = new List<Guid>();
        string? cursor = null;
        int pages = 0;
        do
        {
            var (ids, next) = cursor is null ? await ListAsync("--limit", "7") : await ListAsync("--limit", "7", "--after", cursor);
            Assert.InRange(ids.Count, 1, 7);
            walked.AddRange(ids);
            cursor = next;
            pages++;
        }
        while (cursor is not null);

        Assert.Equal(seeded.Expected(_ => true), walked);
        Assert.Equal(5, pages); // 30 jobs, 7 a page
    }

    [Fact]
    public async Task The_table_lists_the_page_and_prints_the_next_cursor()
    {
        var result = await CliRun.InvokeAsync("jobs", "list", "--connection", seeded.ConnectionString, "--status", "failed", "--limit", "2");
        var (_, next) = await ListAsync("--status", "failed", "--limit", "2");

        Assert.Equal(0, result.ExitCode);
        var expected = seeded.Expected(j => j.Status == JobStatus.Failed);
        Assert.Contains(expected[0].ToString(), result.Output);
        Assert.Contains(expected[1].ToString(), result.Output);
        Assert.DoesNotContain(expected[2].ToString(), result.Output);
        Assert.Contains($"2 jobs; next page: --after {next}", result.Output);
    }

    [Fact]
    public async Task Show_prints_one_job_with_its_timings()
    {
        var job = seeded.Jobs.First(j => j.Status == JobStatus.Completed);

        var json = await CliRun.InvokeAsync("jobs", "show", job.JobId.ToString(), "--json", "--connection", seeded.ConnectionString);
        var text = await CliRun.InvokeAsync("jobs", "show", job.JobId.ToString(), "--connection", seeded.ConnectionString);

        Assert.True(json.ExitCode == 0, json.ToString());
        using var document = JsonDocument.Parse(json.Output);
        Assert.Equal(job.JobId, document.RootElement.GetProperty("job_id").GetGuid());
        Assert.Equal("completed", document.RootElement.GetProperty("status").GetString());
        Assert.Equal("of different ranks", document.RootElement.GetProperty("output_text").GetString());
        Assert.Equal(0, text.ExitCode);
        Assert.Contains("TTFT 30.0 ms", text.Output);
        Assert.Contains("of different ranks", text.Output);
    }

    [Fact]
    public async Task Show_prints_the_trace_the_job_was_recorded_in()
    {
        await using var database = await PostgresServer.CreateDatabaseAsync();
        using var source = new System.Diagnostics.ActivitySource("LoRAQueue.Tests.Cli");
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s == source,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) =>
                System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        var id = Guid.NewGuid();
        string trace;
        using (var request = source.StartActivity("request"))
        {
            trace = request!.TraceId.ToHexString();
            await new PostgresJobHistory(database.DataSource).RecordQueuedAsync(new Contracts.SubmitJob
            {
                JobId = id, Tenant = "acme", Prompt = "traced", MaxTokens = 4, SubmittedAt = DateTimeOffset.UtcNow,
            }, null, CancellationToken.None);
        }

        var text = await CliRun.InvokeAsync("jobs", "show", id.ToString(), "--connection", database.ConnectionString);
        var json = await CliRun.InvokeAsync("jobs", "show", id.ToString(), "--json", "--connection", database.ConnectionString);

        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Matches($@"trace\s+{trace}", text.Output);
        using var document = JsonDocument.Parse(json.Output);
        Assert.Equal(trace, document.RootElement.GetProperty("trace_id").GetString());
    }

    [Fact]
    public async Task Export_writes_the_completed_jobs_as_a_trace_the_reader_takes_back()
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "history.csv");
        var since = seeded.Jobs[20].SubmittedAt;

        var all = await CliRun.InvokeAsync("jobs", "export", "--out", path, "--connection", seeded.ConnectionString);
        var trace = TraceReader.Read(path);
        var recent = await CliRun.InvokeAsync("jobs", "export", "--out", path, "--since", Iso(since), "--connection", seeded.ConnectionString);
        var recentTrace = TraceReader.Read(path);

        // Only completed jobs have token counts (7 prompt, 8 output); queued, running and failed ones are skipped.
        var completed = seeded.Jobs.Where(j => j.Status == JobStatus.Completed).OrderBy(j => j.SubmittedAt).ToList();
        Assert.True(all.ExitCode == 0, all.ToString());
        Assert.Equal($"exported {completed.Count} jobs to {path} ({SeededHistory.Count - completed.Count} without token counts skipped)", all.Output.Trim());
        Assert.Equal(TraceFormat.JobHistory, trace.Format);
        Assert.Equal(completed.Select(j => j.SubmittedAt - completed[0].SubmittedAt), trace.Requests.Select(r => r.Arrival));
        Assert.Equal(completed.Select(j => j.AdapterId), trace.Requests.Select(r => r.AdapterId));
        Assert.Equal(completed.Select(j => j.AdapterId switch { "ad-8" => 8, "ad-32" => (int?)32, _ => null }), trace.Requests.Select(r => r.Rank));
        Assert.All(trace.Requests, r => Assert.Equal((7, 8), (r.InputTokens, r.OutputTokens)));
        Assert.True(recent.ExitCode == 0, recent.ToString());
        Assert.Equal(completed.Count(j => j.SubmittedAt >= since), recentTrace.Requests.Count);
    }

    [Theory]
    [InlineData(new[] { "jobs", "list", "--status", "done" }, "error: --status 'done' is not a job status (queued, running, completed, failed)")]
    [InlineData(new[] { "jobs", "list", "--since", "yesterday" }, "error: --since 'yesterday' is not a time")]
    [InlineData(new[] { "jobs", "list", "--until", "2025-13-45" }, "error: --until '2025-13-45' is not a time")]
    [InlineData(new[] { "jobs", "list", "--limit", "0" }, "error: --limit must be 1 to 1000 (got 0)")]
    [InlineData(new[] { "jobs", "list", "--after", "not-a-cursor" }, "error: --after 'not-a-cursor' is not a job history cursor")]
    [InlineData(new[] { "jobs", "show", "12345" }, "error: '12345' is not a job id")]
    [InlineData(new[] { "jobs", "export", "--out", "x.csv", "--since", "yesterday" }, "error: --since 'yesterday' is not a time")]
    [InlineData(new[] { "jobs", "show", "3f2b8c1e-0000-4000-8000-000000000000" }, "error: no job 3f2b8c1e-0000-4000-8000-000000000000 in the history")]
    public async Task Bad_input_gets_one_clear_line_and_exit_1(string[] args, string message)
    {
        var result = await CliRun.InvokeAsync([.. args, "--connection", seeded.ConnectionString]);

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith(message, result.Error);
        Assert.Single(result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("", result.Output);
    }
}
