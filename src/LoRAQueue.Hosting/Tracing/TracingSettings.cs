using Microsoft.Extensions.Configuration;

namespace LoRAQueue.Hosting.Tracing;

/// <summary>
/// Whether a host records spans and where it sends them. Export happens only when an OTLP endpoint is configured:
/// LoRAQueue:Tracing:OtlpEndpoint (with LoRAQueue:Tracing:OtlpProtocol grpc | http/protobuf), or the standard
/// OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variables (read by the exporter itself, with the
/// rest of OTEL_EXPORTER_OTLP_*). LoRAQueue:Tracing:Enabled = true records spans (and trace ids in the history) with
/// no exporter; false turns tracing off whatever else is set. With nothing set, nothing listens: no span is created.
/// </summary>
public sealed record TracingSettings(bool Enabled, Uri? OtlpEndpoint, string? OtlpProtocol, bool OtlpFromEnvironment)
{
    public static readonly TracingSettings Off = new(false, null, null, false);

    public bool Exports => OtlpEndpoint is not null || OtlpFromEnvironment;

    public static TracingSettings From(IConfiguration configuration)
    {
        var section = configuration.GetSection("LoRAQueue:Tracing");
        bool? enabled = section["Enabled"] is { Length: > 0 } text
            ? bool.TryParse(text, out var b) ? b
                : throw new FormatException($"configuration LoRAQueue:Tracing:Enabled = '{text}': expected true or false")
            : null;
        if (enabled == false) return Off;

        Uri? endpoint = null;
        if (section["OtlpEndpoint"] is { Length: > 0 } url
            && (!Uri.TryCreate(url, UriKind.Absolute, out endpoint) || endpoint.Scheme is not ("http" or "https")))
            throw new FormatException($"configuration LoRAQueue:Tracing:OtlpEndpoint = '{url}': expected an absolute http(s) URL");
        string? protocol = section["OtlpProtocol"] is { Length: > 0 } p ? p.Trim().ToLowerInvariant() : null;
        if (protocol is not (null or "grpc" or "http/protobuf"))
            throw new FormatException($"configuration LoRAQueue:Tracing:OtlpProtocol = '{protocol}': expected grpc or http/protobuf");
        // Hosts read every environment variable into configuration; the exporter then reads OTEL_EXPORTER_OTLP_* itself.
        bool fromEnvironment = endpoint is null
            && (configuration["OTEL_EXPORTER_OTLP_ENDPOINT"] is { Length: > 0 } || configuration["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] is { Length: > 0 });
        bool on = enabled == true || endpoint is not null || fromEnvironment;
        return on ? new TracingSettings(true, endpoint, protocol, fromEnvironment) : Off;
    }
}
