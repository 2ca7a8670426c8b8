using LoRAQueue.Contracts;
using LoRAQueue.History;

namespace LoRAQueue.Cli.Tests;

/// <summary>A seeded job in the history, as the tests expect to see it.</summary>
public sealed record SeededJob(Guid JobId, string Tenant, string? AdapterId, JobStatus Status, DateTimeOffset SubmittedAt);

/// <summary>
/// A fresh migrated database holding 30 jobs written through <see cref="PostgresJobHistory"/>: job i was submitted
/// 30 s + i minutes before the fixture started (whole seconds, so "--since 10m" cuts 30 s away from any job),
/// tenants acme/globex, adapters base/ad-8/ad-32, every status.
/// </summary>
public sealed class SeededHistory : IAsyncLifetime
{
    public const int Count = 30;
    private TestDatabase? _database;

    public string ConnectionString => _database!.ConnectionString;
    public IReadOnlyList<SeededJob> Jobs { get; private set; } = [];

    /// <summary>The seeded jobs matching <paramref name="filter"/>, newest first (submission times are distinct).</summary>
    public IReadOnlyList<Guid> Expected(Func<SeededJob, bool> filter) =>
        Jobs.Where(filter).OrderByDescending(j => j.SubmittedAt).Select(j => j.JobId).ToList();

    public async Task InitializeAsync()
    {
        _database = await PostgresServer.CreateDatabaseAsync();
        var history = new PostgresJobHistory(_database.DataSource);
        var now = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var jobs = new List<SeededJob>();
        for (int i = 0; i < Count; i++)
        {
            var job = new SeededJob(Guid.NewGuid(), i % 3 == 0 ? "globex" : "acme", (i % 4) switch { 0 => null, 2 => "ad-32", _ => "ad-8" },
                (i % 5) switch { 0 => JobStatus.Queued, 1 => JobStatus.Running, 4 => JobStatus.Failed, _ => JobStatus.Completed },
                now - TimeSpan.FromSeconds(30 + 60 * i));
            await RecordAsync(history, job);
            jobs.Add(job);
        }
        Jobs = jobs;
    }

    private static async Task RecordAsync(PostgresJobHistory history, SeededJob job)
    {
        var ct = CancellationToken.None;
        int? bucket = job.AdapterId switch { "ad-8" => 8, "ad-32" => 32, _ => null };
        var t = job.SubmittedAt;
        await history.RecordQueuedAsync(new SubmitJob
        {
            JobId = job.JobId, Tenant = job.Tenant, AdapterId = job.AdapterId, Prompt = "The queue serves many adapters", MaxTokens = 8,
            SubmittedAt = t,
        }, bucket, ct);
        if (job.Status == JobStatus.Queued) return;
        await history.RecordStartedAsync(new JobStarted
        {
            JobId = job.JobId, Tenant = job.Tenant, AdapterId = job.AdapterId, RankBucket = bucket, Worker = "worker-a",
            SubmittedAt = t, StartedAt = t.AddSeconds(1), Prompt = "The queue serves many adapters",
        }, ct);
        if (job.Status == JobStatus.Completed)
            await history.RecordCompletedAsync(new JobCompleted
            {
                JobId = job.JobId, Tenant = job.Tenant, AdapterId = job.AdapterId, RankBucket = bucket, Worker = "worker-a",
                OutputText = "of different ranks", PromptTokens = 7, OutputTokens = 8, FinishReason = "length",
                Timings = new JobTimings(1000, 2, 30, 4, 1100), SubmittedAt = t, CompletedAt = t.AddSeconds(2),
            }, ct);
        else if (job.Status == JobStatus.Failed)
            await history.RecordFailedAsync(new JobFailed
            {
                JobId = job.JobId, Tenant = job.Tenant, AdapterId = job.AdapterId, RankBucket = bucket, Worker = "worker-a",
                ReasonCode = FailureReasons.PromptTooLong, Message = "the prompt is too long", SubmittedAt = t, FailedAt = t.AddSeconds(1),
            }, ct);
    }

    public async Task DisposeAsync()
    {
        if (_database is not null) await _database.DisposeAsync();
    }
}
