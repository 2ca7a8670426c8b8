using LoRAQueue.History.Tenants;
using Microsoft.AspNetCore.Http;

namespace LoRAQueue.Gateway.Tenancy;

/// <summary>Reads a whole request body of a type the endpoint reads (415 otherwise, before reading), never more than the
/// tenant's max_body_bytes (413 past it, whether or not the client declared a Content-Length).</summary>
public static class RequestBody
{
    public static async Task<byte[]> ReadAsync(HttpContext context, Tenant tenant, BodyMediaType type, CancellationToken ct)
    {
        if (type.Refusal(context.Request.ContentType) is { } refusal)
            throw new RequestException(Problems.UnsupportedMediaType(refusal, type.Names));
        long limit = tenant.MaxBodyBytes;
        using var buffer = new MemoryStream(capacity: (int)Math.Min(context.Request.ContentLength ?? 4096, limit) + 1);
        var chunk = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await context.Request.Body.ReadAsync(chunk, ct)) > 0)
            {
                if (buffer.Length + read > limit) throw new RequestException(Problems.BodyTooLarge(limit));
                buffer.Write(chunk, 0, read);
            }
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new RequestException(Problems.BodyTooLarge(limit));
        }
        return buffer.ToArray();
    }
}
