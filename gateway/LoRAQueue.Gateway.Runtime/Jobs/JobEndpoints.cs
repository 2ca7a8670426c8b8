using System.Security.Cryptography;
using LoRAQueue.Admission;
using LoRAQueue.Gateway.Submission;
using LoRAQueue.Gateway.Tenancy;
using LoRAQueue.History;
using LoRAQueue.History.Tenants;

namespace LoRAQueue.Gateway.Jobs;

/// <summary>POST /v1/jobs (idempotent with Idempotency-Key), GET /v1/jobs/{id}, GET /v1/jobs (filters, keyset pages).</summary>
public static class JobEndpoints
{
    public const string IdempotencyHeader = IdempotencyKeys.Header;
    public const string ReplayedHeader = IdempotencyKeys.ReplayedHeader;

    public static RouteGroupBuilder MapJobEndpoints(this RouteGroupBuilder v1)
    {
        v1.MapPost("/jobs", SubmitAsync).WithName("SubmitJob").WithSummary("Submit one job")
            .DocumentsBody<JobRequest>("application/json", "One job").Produces<JobAccepted>(StatusCodes.Status202Accepted)
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(413).ProducesProblem(415).ProducesProblem(422).ProducesProblem(429);
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
        string? key = IdempotencyKeys.Of(http.Request);
        if (key is null) return await SendAsync(submitter, await AdmitAsync(submitter, tenant, body, jobId: null, ct), ct);

        byte[] hash = SHA256.HashData(body);
        // A retry of a request that finished is answered without taking the lock.
        if (await idempotency.FindAsync(tenant.Id, key, ct) is { } earlier && await RecordedJobAsync(key, hash, earlier, history, ct) is { } done)
            return Replayed(http, done);

        await using var held = await idempotency.TryLockAsync(tenant.Id, key, ct) ?? throw InProgress(key);
        if (await idempotency.FindAsync(tenant.Id, key, ct) is { } claimed)
        {
            if (await RecordedJobAsync(key, hash, claimed, history, ct) is { } recorded) return Replayed(http, recorded);
            // Claimed but never recorded: the request that claimed the key died before sending (a job is recorded only after
            // its send). Send the same body again under the claimed id; had it been sent after all, the second message with
            // that id adds no history row and no second webhook of the same event (docs/gateway.md).
            IdempotencyKeys.MarkReplayed(http.Response);
            return await SendAsync(submitter, await AdmitAsync(submitter, tenant, body, claimed.JobId, ct), ct);
        }

        var admitted = await AdmitAsync(submitter, tenant, body, jobId: null, ct);
        var jobId = admitted.Job.JobId;
        // Under the lock no other request claims this key, but a gateway of the previous version takes no lock.
        if (await idempotency.TryClaimAsync(tenant.Id, key, hash, jobId, ct) is not null) throw InProgress(key);
        // A send that failed keeps the key: a broker that did not confirm in time may still have the message, and a retry with a
        // new id would then run the request twice. The retry finds the key's job unrecorded and sends it again under this id.
        return await SendAsync(submitter, admitted, ct);
    }

    private static async Task<AdmittedJob> AdmitAsync(JobSubmitter submitter, Tenant tenant, byte[] body, Guid? jobId, CancellationToken ct)
    {
        var request = GatewayJson.Parse<JobRequest>(body, "the job");
        return await submitter.PrepareAsync(request, tenant, batchId: null, jobId, new JobSubmitter.Lookups(), ct);
    }

    /// <summary>Sends the job and records it queued; answers 503 when the broker does not take it.</summary>
    private static async Task<IResult> SendAsync(JobSubmitter submitter, AdmittedJob admitted, CancellationToken ct)
    {
        var queued = (await submitter.QueueAsync([admitted], ct))[0];
        if (!queued.Sent)
        {
            throw new RequestException(JobSubmitter.NotQueued(queued));
        }
        var job = admitted.Job;
        return Results.Accepted($"/v1/jobs/{job.JobId}",
            new JobAccepted(job.JobId, "queued", queued.Queue!, admitted.RankBucket, job.CustomId, job.SubmittedAt));
    }

    /// <summary>The key's job when it has a history row (it was sent); null when it has none. Throws 422 when the key was
    /// used with another body, or for a batch.</summary>
    private static async Task<JobRecord?> RecordedJobAsync(string key, byte[] hash, IdempotencyStore.Entry entry, IJobHistory history,
                                                           CancellationToken ct)
    {
        if (entry.JobId is not { } jobId) throw new RequestException(Problems.IdempotencyKeyReused(key, "a batch"));
        if (!CryptographicOperations.FixedTimeEquals(hash, entry.RequestHash)) throw new RequestException(Problems.IdempotencyKeyReused(key));
        return await history.GetAsync(jobId, ct);
    }

    /// <summary>The same key and body again after the first request's job was recorded: that job, nothing new queued.</summary>
    private static IResult Replayed(HttpContext http, JobRecord job)
    {
        IdempotencyKeys.MarkReplayed(http.Response);
        return Results.Accepted($"/v1/jobs/{job.JobId}", new JobAccepted(job.JobId, JobStatuses.Name(job.Status),
            LoRAQueue.Core.RankBuckets.QueueName(job.RankBucket), job.RankBucket, job.CustomId, job.SubmittedAt));
    }

    private static RequestException InProgress(string key) => new(Problems.IdempotencyKeyInProgress(key, IdempotencyKeys.InProgressRetryAfter));

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
