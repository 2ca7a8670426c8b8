using System.Security.Cryptography;
using LoRAQueue.Gateway.Submission;
using LoRAQueue.Gateway.Tenancy;
using LoRAQueue.History;

namespace LoRAQueue.Gateway.Jobs;

/// <summary>POST /v1/jobs (idempotent with Idempotency-Key), GET /v1/jobs/{id}, GET /v1/jobs (filters, keyset pages).</summary>
public static class JobEndpoints
{
    public const string IdempotencyHeader = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";

    public static RouteGroupBuilder MapJobEndpoints(this RouteGroupBuilder v1)
    {
        v1.MapPost("/jobs", SubmitAsync).WithName("SubmitJob").WithSummary("Submit one job")
            .DocumentsBody<JobRequest>("application/json", "One job").Produces<JobAccepted>(StatusCodes.Status202Accepted)
            .ProducesProblem(400).ProducesProblem(413).ProducesProblem(415).ProducesProblem(422).ProducesProblem(429);
        v1.MapGet("/jobs/{id:guid}", GetAsync).WithName("GetJob").WithSummary("A job's status and result")
            .Produces<JobView>().ProducesProblem(404);
        v1.MapGet("/jobs", ListAsync).WithName("ListJobs")
            .WithSummary("Jobs newest first; filters adapter, status, batch, since, until; pages with limit and after")
            .Produces<JobList>().ProducesProblem(400);
        return v1;
    }

    private static async Task<IResult> SubmitAsync(HttpContext http, JobSubmitter submitter, IdempotencyStore idempotency,
                                                   IJobHistory history, CancellationToken ct)
    {
        var tenant = http.Tenant();
        var body = await RequestBody.ReadAsync(http, tenant, BodyMediaType.Json, ct);
        string? key = IdempotencyKeyOf(http.Request);
        byte[]? hash = key is null ? null : SHA256.HashData(body);
        if (key is not null && await idempotency.FindAsync(tenant.Id, key, ct) is { } earlier)
            return await ReplayAsync(http, key, hash!, earlier, history, ct);

        var request = GatewayJson.Parse<JobRequest>(body, "the job");
        var admitted = await submitter.PrepareAsync(request, tenant, batchId: null, new JobSubmitter.Lookups(), ct);
        var job = admitted.Job;
        if (key is not null && await idempotency.TryClaimAsync(tenant.Id, key, hash!, job.JobId, ct) is { } raced)
            return await ReplayAsync(http, key, hash!, raced, history, ct);

        var queued = (await submitter.QueueAsync([admitted], ct))[0];
        if (!queued.Sent)
        {
            if (key is not null) await idempotency.ReleaseAsync(tenant.Id, key, job.JobId, CancellationToken.None);
            throw new RequestException(JobSubmitter.NotQueued(queued));
        }
        return Results.Accepted($"/v1/jobs/{job.JobId}",
            new JobAccepted(job.JobId, "queued", queued.Queue!, admitted.RankBucket, job.CustomId, job.SubmittedAt));
    }

    /// <summary>The same key again: the same body gets the first job back (nothing new is queued); another body is refused.</summary>
    private static async Task<IResult> ReplayAsync(HttpContext http, string key, byte[] hash, IdempotencyStore.Entry earlier,
                                                   IJobHistory history, CancellationToken ct)
    {
        if (!CryptographicOperations.FixedTimeEquals(hash, earlier.RequestHash)) throw new RequestException(Problems.IdempotencyKeyReused(key));
        http.Response.Headers[ReplayedHeader] = "true";
        var job = await history.GetAsync(earlier.JobId, ct);
        var status = job is null ? "queued" : JobStatuses.Name(job.Status);
        var queue = LoRAQueue.Core.RankBuckets.QueueName(job?.RankBucket);
        return Results.Accepted($"/v1/jobs/{earlier.JobId}",
            new JobAccepted(earlier.JobId, status, queue, job?.RankBucket, job?.CustomId, job?.SubmittedAt ?? default));
    }

    private static string? IdempotencyKeyOf(HttpRequest request)
    {
        if (!request.Headers.TryGetValue(IdempotencyHeader, out var values)) return null;
        string key = values.ToString().Trim();
        if (key.Length is 0 or > IdempotencyStore.MaxKeyLength || key.Any(c => c < 0x21 || c > 0x7e))
            throw new RequestException(Problems.InvalidRequest(
                $"{IdempotencyHeader} must be 1 to {IdempotencyStore.MaxKeyLength} printable ASCII characters without spaces (a UUID is a good choice)"));
        return key;
    }

    private static async Task<IResult> GetAsync(Guid id, HttpContext http, IJobHistory history, CancellationToken ct)
    {
        var job = await history.GetAsync(id, ct);
        return job is not null && job.Tenant == http.Tenant().Id ? Results.Ok(JobView.Of(job)) : Problems.NotFound($"job {id}").ToResult();
    }

    private static async Task<IResult> ListAsync(HttpContext http, IJobHistory history, CancellationToken ct)
    {
        var r = http.Request;
        JobStatus? status = null;
        if (r.Text("status") is { } statusText)
        {
            try { status = JobStatuses.Parse(statusText); }
            catch (FormatException e) { throw QueryParameters.Bad(e.Message); }
        }
        var query = new JobQuery(Tenant: http.Tenant().Id, AdapterId: r.Text("adapter"), Status: status,
            Since: r.Timestamp("since"), Until: r.Timestamp("until"), Limit: r.Int("limit", 50, 1, JobQuery.MaxLimit),
            After: r.Text("after"), BatchId: r.Guid("batch"));
        JobPage page;
        try { page = await history.ListAsync(query, ct); }
        catch (ArgumentException e) { throw QueryParameters.Bad(e.Message.Split(" (Parameter")[0]); }
        return Results.Ok(new JobList(page.Items.Select(JobView.Of).ToList(), page.Next));
    }
}
