using LoRAQueue.Gateway.Submission;
using LoRAQueue.Gateway.Tenancy;

namespace LoRAQueue.Gateway.Batches;

public sealed record LineError(int Line, string? CustomId, string Code, string Message);

/// <summary>What POST /v1/batches answers (202): the batch id, how many lines were queued and why each other one was not.</summary>
public sealed record BatchAccepted(Guid BatchId, int TotalLines, int Accepted, int Rejected, IReadOnlyList<LineError> Errors);

/// <summary>POST /v1/batches (JSONL), GET /v1/batches/{id}, GET /v1/batches/{id}/results (JSONL).</summary>
public static class BatchEndpoints
{
    public static RouteGroupBuilder MapBatchEndpoints(this RouteGroupBuilder v1)
    {
        v1.MapPost("/batches", BatchSubmission.SubmitAsync).WithName("SubmitBatch")
            .WithSummary("Submit many jobs as JSONL (one job per line, each with a custom_id); ?webhook_url=…&metadata.KEY=VALUE apply to the batch")
            .DocumentsBody<JobRequest>("application/jsonl", "One job per line, each with a custom_id").Produces<BatchAccepted>(StatusCodes.Status202Accepted)
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(413).ProducesProblem(415).ProducesProblem(422);
        v1.MapGet("/batches/{id:guid}", GetAsync).WithName("GetBatch").WithSummary("A batch with its job counts per status")
            .Produces<BatchView>().ProducesProblem(404);
        v1.MapGet("/batches/{id:guid}/results", ResultsAsync).WithName("GetBatchResults")
            .WithSummary("One JSON line per accepted job: custom_id, job_id, status, output or error")
            .Produces<BatchResultLine>(200, "application/jsonl").ProducesProblem(404);
        return v1;
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
}
