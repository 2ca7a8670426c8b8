using LoRAQueue.Gateway.Tenancy;
using LoRAQueue.History;

namespace LoRAQueue.Gateway.Adapters;

/// <summary>POST /v1/adapters {"id": "support-r8"}: registers a PEFT directory already in the adapter store. (A multipart
/// body uploads the directory instead: <see cref="AdapterUpload"/>.)</summary>
public sealed record RegisterAdapterRequest(string? Id);

/// <summary>An adapter as the API shows it; <see cref="Digest"/> is the SHA-256 content digest of its files.</summary>
public sealed record AdapterView(string Id, int MaxRank, int RankBucket, string Queue, long SizeBytes, int ModuleCount, DateTimeOffset CreatedAt,
                                 string? Digest)
{
    public static AdapterView Of(AdapterRecord a) =>
        new(a.Id, a.MaxRank, a.RankBucket, LoRAQueue.Core.RankBuckets.QueueName(a.RankBucket), a.SizeBytes, a.ModuleCount, a.CreatedAt, a.Digest);
}

public sealed record AdapterList(IReadOnlyList<AdapterView> Data);

/// <summary>The tenant's adapters. Ids are global (directory names in the store), but another tenant's adapter is never
/// shown: GET answers 404, and registering its id answers 409 without naming the owner.</summary>
public static class AdapterEndpoints
{
    public static RouteGroupBuilder MapAdapterEndpoints(this RouteGroupBuilder v1, GatewaySettings settings)
    {
        v1.MapPost("/adapters", RegisterAsync).WithName("RegisterAdapter")
            .WithSummary("Register (or re-register) an adapter: a directory already in the adapter store (JSON), or upload its files (multipart)")
            .DocumentsBody<RegisterAdapterRequest>("application/json", "application/json: the adapter's directory name in the adapter store.")
            .DocumentsBody("multipart/form-data", UploadDescription, AdapterUpload.FormSchema)
            .WithMetadata(new UploadBodyLimit(BodyMediaType.Multipart, settings.MaxAdapterUploadBytes))
            .Produces<AdapterView>(201)
            .ProducesProblem(400).ProducesProblem(409).ProducesProblem(413).ProducesProblem(415).ProducesProblem(422);
        v1.MapGet("/adapters", ListAsync).WithName("ListAdapters").WithSummary("The tenant's adapters").Produces<AdapterList>();
        v1.MapGet("/adapters/{id}", GetAsync).WithName("GetAdapter").WithSummary("One of the tenant's adapters")
            .Produces<AdapterView>().ProducesProblem(404);
        return v1;
    }

    private const string UploadDescription =
        "multipart/form-data: uploads an adapter into the store as the directory `id` (a re-upload replaces the tenant's " +
        "earlier version once the new one is registered): a field `id` and one file part per file, its filename the file's name in the directory " +
        "(plain names, no directories); adapter_config.json and adapter_model.safetensors are required. At most " +
        "LoRAQueue:Gateway:MaxAdapterUploadMb in all (413 past it).";

    private static async Task<IResult> RegisterAsync(HttpContext http, IAdapterRegistry registry, GatewaySettings settings, CancellationToken ct)
    {
        var tenant = http.Tenant();
        if (BodyMediaType.Multipart.Refusal(http.Request.ContentType) is null)
            return await AdapterUpload.RunAsync(http, tenant, registry, settings, ct);
        // Anything else must be JSON; a 415 names both types read here.
        var body = await RequestBody.ReadAsync(http, tenant, BodyMediaType.JsonOrMultipart, ct);
        var request = GatewayJson.Parse<RegisterAdapterRequest>(body, "the adapter registration");
        if (string.IsNullOrWhiteSpace(request.Id))
            throw new RequestException(Problems.InvalidRequest("id is required: the adapter's directory name in the adapter store"));
        if (await registry.GetAsync(request.Id, ct) is { } existing && existing.Tenant != tenant.Id)
            return Problems.Conflict($"adapter id '{request.Id}' is not available: choose another directory name").ToResult();
        try
        {
            var adapter = await registry.RegisterAsync(request.Id, tenant.Id, ct);
            return Results.Created($"/v1/adapters/{adapter.Id}", AdapterView.Of(adapter));
        }
        catch (AdapterRegistrationException e)
        {
            return Problems.AdapterRejected(e.Message).ToResult();
        }
    }

    private static async Task<IResult> ListAsync(HttpContext http, IAdapterRegistry registry, CancellationToken ct) =>
        Results.Ok(new AdapterList((await registry.ListAsync(http.Tenant().Id, ct)).Select(AdapterView.Of).ToList()));

    private static async Task<IResult> GetAsync(string id, HttpContext http, IAdapterRegistry registry, CancellationToken ct)
    {
        var adapter = await registry.GetAsync(id, ct);
        return adapter is not null && adapter.Tenant == http.Tenant().Id
            ? Results.Ok(AdapterView.Of(adapter))
            : Problems.NotFound($"adapter '{id}'").ToResult();
    }
}
