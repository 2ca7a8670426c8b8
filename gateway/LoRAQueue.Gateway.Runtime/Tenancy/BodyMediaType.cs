using Microsoft.Net.Http.Headers;

namespace LoRAQueue.Gateway.Tenancy;

/// <summary>
/// The media types an endpoint reads its body as. Bodies are read raw (<see cref="RequestBody"/>), so ASP.NET's own
/// Content-Type check does not run: this is it. Any other type, or none, is refused (415) before the body is read, so a
/// client that sent the wrong thing is told so instead of getting a parse error or, worse, an accepted job.
/// </summary>
public sealed class BodyMediaType
{
    /// <summary>application/json, and any <c>+json</c> type (RFC 6839: the body is JSON whatever the vendor prefix).</summary>
    public static readonly BodyMediaType Json = new("JSON", ["application/json"], jsonSuffix: true);

    /// <summary>JSON Lines under the names clients use for it. Not application/json: a JSONL body of several lines is not JSON.</summary>
    public static readonly BodyMediaType JsonLines = new("JSONL",
        ["application/jsonl", "application/x-ndjson", "application/x-jsonlines", "application/jsonlines"], jsonSuffix: false);

    /// <summary>An adapter's files (POST /v1/adapters only). No charset check: each part says what it is, and the files are bytes.</summary>
    public static readonly BodyMediaType Multipart = new("multipart", ["multipart/form-data"], jsonSuffix: false, utf8Only: false);

    /// <summary>POST /v1/adapters: JSON names a directory already in the store, multipart uploads one. Only for the 415's
    /// wording (both types named); the endpoint reads each with its own type.</summary>
    public static readonly BodyMediaType JsonOrMultipart = new("JSON", ["application/json", "multipart/form-data"], jsonSuffix: true);

    private readonly string _format;
    private readonly bool _jsonSuffix;
    private readonly bool _utf8Only;

    private BodyMediaType(string format, string[] names, bool jsonSuffix, bool utf8Only = true)
    {
        _format = format;
        Names = names;
        _jsonSuffix = jsonSuffix;
        _utf8Only = utf8Only;
    }

    /// <summary>The types read, the preferred first.</summary>
    public IReadOnlyList<string> Names { get; }

    private string Send => Names.Count == 1 ? Names[0] : $"{Names[0]} (or {string.Join(", ", Names.Skip(1))})";

    /// <summary>Null when a body with this Content-Type header is read; otherwise what is wrong with it, for the 415.
    /// The only charset read is UTF-8 (JSON's own, RFC 8259); no charset means UTF-8.</summary>
    public string? Refusal(string? contentType)
    {
        if (string.IsNullOrWhiteSpace(contentType)) return $"the request has no Content-Type; send {Send}";
        if (!MediaTypeHeaderValue.TryParse(contentType, out var type))
            return $"Content-Type '{contentType}' is not a media type; send {Send}";
        bool read = Names.Any(n => type.MediaType.Equals(n, StringComparison.OrdinalIgnoreCase))
                    || (_jsonSuffix && type.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase));
        if (!read) return $"Content-Type '{type.MediaType}' is not read by this endpoint; send {Send}";
        if (_utf8Only && type.Charset.HasValue && !type.Charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase))
            return $"charset '{type.Charset}' is not read: {_format} bodies are UTF-8 (send charset=utf-8, or no charset)";
        return null;
    }
}
