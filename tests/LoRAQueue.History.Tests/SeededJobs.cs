namespace LoRAQueue.History.Tests;

/// <summary>A fixed set of jobs across tenants, adapters, statuses and ten days (with timestamp ties), recorded
/// through the public Record* methods, and the oracle that says which of them a query must return.</summary>
public sealed class SeededJobs
{
    public static readonly string[] Tenants = ["acme", "globex", "initech"];
    public static readonly string?[] Adapters = [null, "ad-8", "ad-32", "ad-128"];

    public IReadOnlyList<JobRecord> Jobs { get; }

    private SeededJobs(List<JobRecord> jobs) => Jobs = jobs;

    public static async Task<SeededJobs> RecordAsync(IJobHistory history, int count = 150)
    {
        var random = new Random(7);
        var submitted = JobEvents.Epoch;
        var plan = new List<(JobEvents Job, JobStatus Status)>();
        for (int i = 0; i < count; i++)
        {
            // Every fifth job shares the previous one's time: ties are broken by job id.
            if (i % 5 != 4) submitted = JobEvents.Epoch.AddMinutes(random.Next(0, 10 * 24 * 60)).AddTicks(random.Next(0, 10) * 10);
            string? adapter = Adapters[random.Next(Adapters.Length)];
            var job = JobEvents.New(Tenants[random.Next(Tenants.Length)], adapter, adapter is null ? null : 16, submitted);
            plan.Add((job, (JobStatus)random.Next(4)));
        }

        await Task.WhenAll(plan.Select(p => RecordAsync(history, p.Job, p.Status)));
        var recorded = new List<JobRecord>();
        foreach (var (job, _) in plan) recorded.Add((await history.GetAsync(job.JobId, CancellationToken.None))!);
        return new SeededJobs(recorded);
    }

    private static async Task RecordAsync(IJobHistory history, JobEvents job, JobStatus status)
    {
        var ct = CancellationToken.None;
        await history.RecordQueuedAsync(job.Submit, job.RankBucket, ct);
        if (status >= JobStatus.Running) await history.RecordStartedAsync(job.Started(), ct);
        if (status == JobStatus.Completed) await history.RecordCompletedAsync(job.Completed(), ct);
        if (status == JobStatus.Failed) await history.RecordFailedAsync(job.Failed(), ct);
    }

    /// <summary>The ids a query must return, newest first, ties by id descending (uuid text order).</summary>
    public List<Guid> Expected(JobQuery q) => Jobs
        .Where(j => (q.Tenant is null || j.Tenant == q.Tenant)
                    && (q.AdapterId is null || j.AdapterId == q.AdapterId)
                    && (q.Status is null || j.Status == q.Status)
                    && (q.Since is null || j.SubmittedAt >= q.Since)
                    && (q.Until is null || j.SubmittedAt < q.Until))
        .OrderByDescending(j => j.SubmittedAt)
        .ThenByDescending(j => j.JobId.ToString("N"), StringComparer.Ordinal)
        .Select(j => j.JobId)
        .ToList();

    /// <summary>The submission time of the n-th newest job: a boundary that falls exactly on a job.</summary>
    public DateTimeOffset NthNewest(int n) => Jobs.Select(j => j.SubmittedAt).OrderDescending().ElementAt(n);
}
