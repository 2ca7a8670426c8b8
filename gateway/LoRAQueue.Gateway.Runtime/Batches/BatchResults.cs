using System.Text.Json;
using LoRAQueue.History;

namespace LoRAQueue.Gateway.Batches;

/// <summary>
/// Streams a batch's results as JSONL straight from the job history, one keyset page at a time, so a 10,000-line batch
/// never sits in memory. Lines come newest job first; match them to the input by custom_id.
/// </summary>
public sealed class BatchResults(IJobHistory history)
{
    public const string ContentType = "application/jsonl; charset=utf-8";
    private const int PageSize = 500;

    public async Task WriteAsync(HttpResponse response, string tenant, Guid batchId, CancellationToken ct)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = ContentType;
        string? after = null;
        do
        {
            var page = await history.ListAsync(new JobQuery(Tenant: tenant, BatchId: batchId, Limit: PageSize, After: after), ct);
            foreach (var job in page.Items)
            {
                await JsonSerializer.SerializeAsync(response.Body, BatchResultLine.Of(job), GatewayJson.Response, ct);
                await response.Body.WriteAsync("\n"u8.ToArray(), ct);
            }
            await response.Body.FlushAsync(ct);
            after = page.Next;
        } while (after is not null);
    }
}
