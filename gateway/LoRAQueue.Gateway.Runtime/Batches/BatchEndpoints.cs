using LoRAQueue.Admission;
using LoRAQueue.Contracts;
using LoRAQueue.Contracts.Admission;
using LoRAQueue.Gateway.Submission;
using LoRAQueue.Gateway.Tenancy;
using MassTransit;

namespace LoRAQueue.Gateway.Batches;

public sealed record LineError(int Line, string? CustomId, string Code, string Message);

/// <summary>What POST /v1/batches answers (202): the batch id, how many lines were queued and why each other one was not.</summary>
public sealed record BatchAccepted(Guid BatchId, int TotalLines, int Accepted, int Rejected, IReadOnlyList<LineError> Errors);

/// <summary>POST /v1/batches (JSONL), GET /v1/batches/{id}, GET /v1/batches/{id}/results (JSONL).</summary>
public static class BatchEndpoints
{
    public static RouteGroupBuilder MapBatchEndpoints(this RouteGroupBuilder v1)
    {
        v1.MapPost("/batches", SubmitAsync).WithName("SubmitBatch")
            .WithSummary("Submit many jobs as JSONL (one job per line, each with a custom_id); ?webhook_url=…&metadata.KEY=VALUE apply to the batch")
            .DocumentsBody<JobRequest>("application/jsonl", "One job per line, each with a custom_id").Produces<BatchAccepted>(StatusCodes.Status202Accepted)
            .ProducesProblem(400).ProducesProblem(413).ProducesProblem(415).ProducesProblem(422);
        v1.MapGet("/batches/{id:guid}", GetAsync).WithName("GetBatch").WithSummary("A batch with its job counts per status")
            .Produces<BatchView>().ProducesProblem(404);
        v1.MapGet("/batches/{id:guid}/results", ResultsAsync).WithName("GetBatchResults")
            .WithSummary("One JSON line per accepted job: custom_id, job_id, status, output or error")
            .Produces<BatchResultLine>(200, "application/jsonl").ProducesProblem(404);
        return v1;
    }

    private static async Task<IResult> SubmitAsync(HttpContext http, JobSubmitter submitter, BatchStore batches, CancellationToken ct)
    {
        var tenant = http.Tenant();
        var body = await RequestBody.ReadAsync(http, tenant, BodyMediaType.JsonLines, ct);
        var lookups = new JobSubmitter.Lookups();
        string? webhookUrl = http.Request.Text("webhook_url");
        var batchMetadata = http.Request.Prefixed("metadata");
        if (webhookUrl is not null && await submitter.CheckWebhookAsync(webhookUrl, lookups, ct) is { } refused)
            throw new RequestException(Problems.WebhookRefused("webhook_url (the batch's)", refused));
        if (batchMetadata is { Count: > SubmitJobRules.MaxMetadataEntries })
            throw QueryParameters.Bad($"the batch has {batchMetadata.Count} metadata.* parameters; at most {SubmitJobRules.MaxMetadataEntries}");

        var lines = BatchLines.Split(body);
        if (lines.Count == 0)
            throw new RequestException(Problems.InvalidRequest("the batch has no job lines: send one JSON job object per line (JSONL)"));
        if (lines.Count > tenant.MaxBatchLines) throw new RequestException(Problems.TooManyLines(lines.Count, tenant.MaxBatchLines));

        var batchId = NewId.NextGuid();
        var jobs = new List<AdmittedJob>(lines.Count);
        var lineOf = new Dictionary<Guid, int>();
        var errors = new List<LineError>();
        var customIds = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in lines)
        {
            string? customId = null;
            try
            {
                var request = BatchLines.Parse(line);
                customId = request.CustomId!;
                if (!customIds.TryAdd(customId, line.Number))
                    throw new RequestException(Problems.InvalidRequest($"custom_id '{customId}' is already used on line {customIds[customId]}"));
                if (batchMetadata is not null) request = request with { Metadata = Merge(batchMetadata, request.Metadata) };
                var admitted = await submitter.PrepareAsync(request, tenant, batchId, lookups, ct);
                jobs.Add(admitted);
                lineOf[admitted.Job.JobId] = line.Number;
            }
            catch (RequestException e)
            {
                errors.Add(new LineError(line.Number, customId, e.Problem.Code, e.Problem.Detail));
            }
        }
        if (jobs.Count == 0) throw new RequestException(Problems.NoValidLines(Sorted(errors)));

        await batches.CreateAsync(batchId, tenant.Id, webhookUrl, lines.Count, jobs.Count, errors.Count, batchMetadata, ct);
        // From here the batch exists: queue every job even if the client goes away, and account for any the broker refused.
        var queued = await submitter.QueueAsync(jobs, CancellationToken.None);
        foreach (var notSent in queued.Where(q => !q.Sent))
        {
            var problem = JobSubmitter.NotQueued(notSent);
            errors.Add(new LineError(lineOf[notSent.Admitted.Job.JobId], notSent.Admitted.Job.CustomId, problem.Code, problem.Detail));
        }
        int accepted = queued.Count(q => q.Sent);
        if (accepted == 0)
        {
            // Nothing reached the broker: no batch to report on, and the client should retry the whole body.
            await batches.DeleteAsync(batchId, CancellationToken.None);
            throw new RequestException(JobSubmitter.NotQueued(queued[0]));
        }
        if (accepted < jobs.Count) await batches.SetCountsAsync(batchId, accepted, errors.Count, CancellationToken.None);
        return Results.Accepted($"/v1/batches/{batchId}", new BatchAccepted(batchId, lines.Count, accepted, errors.Count, Sorted(errors)));
    }

    private static async Task<IResult> GetAsync(Guid id, HttpContext http, BatchStore batches, CancellationToken ct)
    {
        var batch = await batches.GetAsync(http.Tenant().Id, id, ct);
        if (batch is null) return Problems.NotFound($"batch {id}").ToResult();
        var counts = await batches.CountByStatusAsync(id, ct);
        return Results.Ok(BatchView.Of(batch, counts));
    }

    private static async Task<IResult> ResultsAsync(Guid id, HttpContext http, BatchStore batches, BatchResults results, CancellationToken ct)
    {
        var tenant = http.Tenant();
        if (await batches.GetAsync(tenant.Id, id, ct) is null) return Problems.NotFound($"batch {id}").ToResult();
        await results.WriteAsync(http.Response, tenant.Id, id, ct);
        return Results.Empty;
    }

    private static Dictionary<string, string> Merge(Dictionary<string, string> batch, Dictionary<string, string>? line)
    {
        var merged = new Dictionary<string, string>(batch, StringComparer.Ordinal);
        if (line is not null) foreach (var (key, value) in line) merged[key] = value; // the line's own value wins
        return merged;
    }

    private static List<LineError> Sorted(IEnumerable<LineError> errors) => errors.OrderBy(e => e.Line).ToList();
}
