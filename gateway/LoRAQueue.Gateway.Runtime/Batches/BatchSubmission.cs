using System.Security.Cryptography;
using System.Text.Json;
using LoRAQueue.Admission;
using LoRAQueue.Contracts.Admission;
using LoRAQueue.Gateway.Jobs;
using LoRAQueue.Gateway.Submission;
using LoRAQueue.Gateway.Tenancy;
using LoRAQueue.History.Tenants;
using MassTransit;

namespace LoRAQueue.Gateway.Batches;

/// <summary>
/// POST /v1/batches. Every line's job id is <see cref="BatchJobIds.Of"/>(batch id, custom_id). With an Idempotency-Key the
/// request holds the key's lock throughout and the batch is created together with the key's claim; a retry then either
/// gets the stored answer (the first submission finished: the batch is sealed) or resumes it: the lines whose jobs have a
/// history row were sent (a job is recorded only after its send) and are not sent again; the others are sent now, with
/// the ids they had.
/// </summary>
public static class BatchSubmission
{
    /// <summary>One request's batch settings and lines, parsed and checked before any key is looked at.</summary>
    private sealed record Request(Tenant Tenant, IReadOnlyList<BatchLine> Lines, string? WebhookUrl, Dictionary<string, string>? Metadata,
                                 JobSubmitter.Lookups Lookups);

    public static async Task<IResult> SubmitAsync(HttpContext http, JobSubmitter submitter, BatchStore batches, IdempotencyStore idempotency,
                                                  CancellationToken ct)
    {
        var tenant = http.Tenant();
        string? key = IdempotencyKeys.Of(http.Request);
        var body = await RequestBody.ReadAsync(http, tenant, BodyMediaType.JsonLines, ct);
        var request = await ReadAsync(http, tenant, body, submitter, ct);
        if (key is null) return await QueueAsync(request, NewId.NextGuid(), claim: null, resuming: false, submitter, batches, ct);

        byte[] hash = BatchRequestHash.Of(body, request.WebhookUrl, request.Metadata);
        await using var held = await idempotency.TryLockAsync(tenant.Id, key, ct) ?? throw InProgress(key);
        if (await idempotency.FindAsync(tenant.Id, key, ct) is not { } earlier)
            return await QueueAsync(request, NewId.NextGuid(), new BatchStore.KeyClaim(key, hash), resuming: false, submitter, batches, ct);
        if (earlier.BatchId is not { } batchId) throw new RequestException(Problems.IdempotencyKeyReused(key, "a job"));
        if (!CryptographicOperations.FixedTimeEquals(hash, earlier.RequestHash))
            throw new RequestException(Problems.IdempotencyKeyReused(key, "a different request body or query (webhook_url, metadata.*)"));

        var submission = await batches.GetSubmissionAsync(batchId, ct)
            ?? throw new InvalidOperationException($"Idempotency-Key '{key}' names batch {batchId}, which does not exist");
        IdempotencyKeys.MarkReplayed(http.Response);
        if (submission.SealedAt is not null)
            return Accepted(JsonSerializer.Deserialize<BatchAccepted>(submission.Answer!, GatewayJson.Response)!);
        return await QueueAsync(request, batchId, claim: null, resuming: true, submitter, batches, ct);
    }

    private static async Task<Request> ReadAsync(HttpContext http, Tenant tenant, byte[] body, JobSubmitter submitter, CancellationToken ct)
    {
        var lookups = new JobSubmitter.Lookups();
        string? webhookUrl = http.Request.Text("webhook_url");
        var metadata = http.Request.Prefixed("metadata");
        if (webhookUrl is not null && await submitter.CheckWebhookAsync(webhookUrl, lookups, ct) is { } refused)
            throw new RequestException(Problems.WebhookRefused("webhook_url (the batch's)", refused));
        if (metadata is { Count: > SubmitJobRules.MaxMetadataEntries })
            throw QueryParameters.Bad($"the batch has {metadata.Count} metadata.* parameters; at most {SubmitJobRules.MaxMetadataEntries}");

        var lines = BatchLines.Split(body);
        if (lines.Count == 0)
            throw new RequestException(Problems.InvalidRequest("the batch has no job lines: send one JSON job object per line (JSONL)"));
        if (lines.Count > tenant.MaxBatchLines) throw new RequestException(Problems.TooManyLines(lines.Count, tenant.MaxBatchLines));
        return new Request(tenant, lines, webhookUrl, metadata, lookups);
    }

    /// <summary>Admits the lines, creates the batch (unless <paramref name="resuming"/> it), sends every job not recorded
    /// yet, then seals the batch with its counts and answer.</summary>
    private static async Task<IResult> QueueAsync(Request r, Guid batchId, BatchStore.KeyClaim? claim, bool resuming, JobSubmitter submitter,
                                                  BatchStore batches, CancellationToken ct)
    {
        var recorded = resuming ? await batches.RecordedJobIdsAsync(batchId, ct) : [];
        var (jobs, lineOf, errors, alreadyQueued) = await AdmitAsync(r, batchId, recorded, submitter, ct);
        if (!resuming)
        {
            if (jobs.Count == 0) throw new RequestException(Problems.NoValidLines(Sorted(errors)));
            if (!await batches.CreateAsync(batchId, r.Tenant.Id, r.WebhookUrl, r.Lines.Count, jobs.Count, errors.Count, r.Metadata, claim, ct))
                throw InProgress(claim!.Key); // claimed meanwhile by a gateway that takes no lock (an older version)
        }

        // From here the batch exists: queue every job even if the client goes away, and account for any the broker refused.
        var queued = jobs.Count == 0 ? [] : await submitter.QueueAsync(jobs, CancellationToken.None);
        foreach (var notSent in queued.Where(q => !q.Sent))
        {
            var problem = JobSubmitter.NotQueued(notSent);
            errors.Add(new LineError(lineOf[notSent.Admitted.Job.JobId], notSent.Admitted.Job.CustomId, problem.Code, problem.Detail));
        }
        int accepted = alreadyQueued + queued.Count(q => q.Sent);
        if (accepted == 0)
        {
            // Nothing of a new batch reached the broker: no batch to report on, and the client should retry the whole body.
            // A resumed one stays, unsealed: the submission that died may have sent jobs it did not record.
            if (!resuming) await batches.DeleteAsync(batchId, CancellationToken.None);
            throw new RequestException(queued.Count > 0 ? JobSubmitter.NotQueued(queued[0]) : Problems.NoValidLines(Sorted(errors)));
        }
        var answer = new BatchAccepted(batchId, r.Lines.Count, accepted, errors.Count, Sorted(errors));
        string? stored = claim is not null || resuming ? JsonSerializer.Serialize(answer, GatewayJson.Response) : null;
        await batches.SealAsync(batchId, accepted, errors.Count, stored, CancellationToken.None);
        return Accepted(answer);
    }

    private sealed record Admitted(List<AdmittedJob> Jobs, Dictionary<Guid, int> LineOf, List<LineError> Errors, int AlreadyQueued);

    /// <summary>Each line's job with its id, or its error. A line whose job is in <paramref name="recorded"/> was queued by an
    /// earlier submission of this batch: it is counted, not admitted again.</summary>
    private static async Task<Admitted> AdmitAsync(Request r, Guid batchId, HashSet<Guid> recorded, JobSubmitter submitter, CancellationToken ct)
    {
        var jobs = new List<AdmittedJob>(r.Lines.Count);
        var lineOf = new Dictionary<Guid, int>();
        var errors = new List<LineError>();
        int alreadyQueued = 0;
        var customIds = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in r.Lines)
        {
            string? customId = null;
            try
            {
                var request = BatchLines.Parse(line);
                customId = request.CustomId!;
                if (!customIds.TryAdd(customId, line.Number))
                    throw new RequestException(Problems.InvalidRequest($"custom_id '{customId}' is already used on line {customIds[customId]}"));
                var jobId = BatchJobIds.Of(batchId, customId);
                if (recorded.Contains(jobId))
                {
                    alreadyQueued++;
                    continue;
                }
                if (r.Metadata is not null) request = request with { Metadata = Merge(r.Metadata, request.Metadata) };
                jobs.Add(await submitter.PrepareAsync(request, r.Tenant, batchId, jobId, r.Lookups, ct));
                lineOf[jobId] = line.Number;
            }
            catch (RequestException e)
            {
                errors.Add(new LineError(line.Number, customId, e.Problem.Code, e.Problem.Detail));
            }
        }
        return new Admitted(jobs, lineOf, errors, alreadyQueued);
    }

    private static IResult Accepted(BatchAccepted answer) => Results.Accepted($"/v1/batches/{answer.BatchId}", answer);

    private static RequestException InProgress(string key) => new(Problems.IdempotencyKeyInProgress(key, IdempotencyKeys.InProgressRetryAfter));

    private static Dictionary<string, string> Merge(Dictionary<string, string> batch, Dictionary<string, string>? line)
    {
        var merged = new Dictionary<string, string>(batch, StringComparer.Ordinal);
        if (line is not null) foreach (var (key, value) in line) merged[key] = value; // the line's own value wins
        return merged;
    }

    private static List<LineError> Sorted(IEnumerable<LineError> errors) => errors.OrderBy(e => e.Line).ToList();
}
