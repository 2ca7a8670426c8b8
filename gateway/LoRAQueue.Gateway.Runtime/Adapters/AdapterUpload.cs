using LoRAQueue.Formats;
using LoRAQueue.Gateway.Tenancy;
using LoRAQueue.History;
using LoRAQueue.History.Tenants;
using Microsoft.Net.Http.Headers;
using Microsoft.OpenApi;

namespace LoRAQueue.Gateway.Adapters;

/// <summary>
/// POST /v1/adapters as multipart/form-data: a field <c>id</c> and the adapter's files, each part's file name its name in
/// the adapter directory. Only plain file names (no directories, no "..", no separators): a PEFT adapter is a flat directory.
/// The parts stream into <c>{store}/.upload-{guid}</c> (never whole in memory); <see cref="AdapterStoreCommit"/> then moves
/// the directory to <c>{store}/{id}</c> and registers it. A refused or failed upload leaves no files behind and the
/// adapter it would have replaced as it was.
/// </summary>
internal static class AdapterUpload
{
    /// <summary>More would be no PEFT adapter; the bound keeps one request from making a directory of thousands of files.</summary>
    public const int MaxFiles = 64;

    public static readonly IReadOnlyList<string> RequiredFiles = [LoraAdapter.ConfigFileName, LoraAdapter.WeightsFileName];

    private const int MaxIdBytes = 1024; // the id itself is ≤ 128 characters; this bounds what is read to find that out

    public static async Task<IResult> RunAsync(HttpContext http, Tenant tenant, IAdapterRegistry registry, GatewaySettings settings,
                                               CancellationToken ct)
    {
        var logger = http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("LoRAQueue.Gateway.Adapters");
        string store = settings.AdapterStorePath;
        // Ids never start with '.', so no adapter can be named like a staging directory.
        string staging = Path.Combine(store, $".upload-{Guid.NewGuid():N}");
        try
        {
            var receiver = new UploadReceiver(staging, settings.MaxAdapterUploadBytes, id => CheckIdAsync(id, tenant, registry, ct));
            var upload = await receiver.ReceiveAsync(http.Request, ct);
            // From here on the client's going away changes nothing: a half-done swap is worse than a finished one.
            var adapter = await AdapterStoreCommit.CommitAsync(store, staging, upload.Id,
                                                               () => registry.RegisterAsync(upload.Id, tenant.Id, CancellationToken.None), logger);
            logger.LogInformation("Adapter {Id} uploaded by tenant {Tenant}: {Files} files, {Bytes} bytes, digest {Digest}",
                                  adapter.Id, tenant.Id, upload.Files.Count, upload.Bytes, adapter.Digest);
            return Results.Created($"/v1/adapters/{adapter.Id}", AdapterView.Of(adapter));
        }
        catch (AdapterRegistrationException e)
        {
            return Problems.AdapterRejected(e.Message).ToResult();
        }
        finally
        {
            AdapterStoreCommit.DeleteQuietly(staging, logger);
        }
    }

    /// <summary>Run as soon as the id field arrives, so a bad or taken id is refused before the files are written.</summary>
    private static async Task CheckIdAsync(string id, Tenant tenant, IAdapterRegistry registry, CancellationToken ct)
    {
        try
        {
            AdapterValidator.CheckId(id); // the rule the JSON path meets in the registry; here before anything is stored
        }
        catch (AdapterRegistrationException e)
        {
            throw new RequestException(Problems.InvalidRequest(e.Message));
        }
        if (await registry.GetAsync(id, ct) is { } existing && existing.Tenant != tenant.Id)
            throw new RequestException(Problems.Conflict($"adapter id '{id}' is not available: choose another id"));
    }

    /// <summary>The multipart form in the OpenAPI document: a form has no type to generate it from.</summary>
    public static IOpenApiSchema FormSchema() => new OpenApiSchema
    {
        Type = JsonSchemaType.Object,
        Required = new HashSet<string> { "id" },
        Properties = new Dictionary<string, IOpenApiSchema>
        {
            ["id"] = new OpenApiSchema
            {
                Type = JsonSchemaType.String, Pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
                Description = "The adapter's id: its directory name in the adapter store",
            },
            ["files"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Array, MaxItems = MaxFiles,
                Items = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" },
                Description = "The adapter's files, each part's filename its name in the directory: adapter_config.json, " +
                              "adapter_model.safetensors and any others (README.md, …). Any field name is read for a file part.",
            },
        },
    };

    /// <summary>Null when <paramref name="name"/> is a plain file name; otherwise why not.</summary>
    public static string? FileNameProblem(string? name)
    {
        if (string.IsNullOrEmpty(name)) return "a file part has no file name: each part's file name is its name in the adapter directory";
        if (name.Length > 255) return $"file name '{name[..32]}…' is longer than 255 characters";
        if (name is "." or ".." || name.IndexOfAny(['/', '\\', ':']) >= 0 || name.Any(char.IsControl) || name.Trim() != name)
            return $"file name '{name}' is not a plain file name: send each file under its own name, without directories";
        return null;
    }

    /// <summary>The multipart boundary of <paramref name="contentType"/> (already known to be multipart/form-data).</summary>
    public static string Boundary(string? contentType)
    {
        string boundary = HeaderUtilities.RemoveQuotes(MediaTypeHeaderValue.Parse(contentType).Boundary).ToString();
        if (boundary.Length is 0 or > 70) // RFC 2046: 1 to 70 characters
            throw new RequestException(Problems.InvalidRequest("multipart/form-data needs a boundary parameter of 1 to 70 characters"));
        return boundary;
    }

    /// <summary>Reads the id field bounded, as UTF-8.</summary>
    public static async Task<string> ReadFieldAsync(Stream body, CancellationToken ct)
    {
        var buffer = new byte[MaxIdBytes + 1];
        int length = 0, read;
        while (length < buffer.Length && (read = await body.ReadAsync(buffer.AsMemory(length), ct)) > 0) length += read;
        if (length > MaxIdBytes) throw new RequestException(Problems.InvalidRequest($"the id field is longer than {MaxIdBytes} bytes"));
        return System.Text.Encoding.UTF8.GetString(buffer, 0, length);
    }
}

/// <summary>What an upload brought: the id and the files written (their names in the adapter directory).</summary>
internal sealed record ReceivedUpload(string Id, IReadOnlyList<string> Files, long Bytes);
