using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Testing;

/// <summary>A span as an OTLP exporter sent it: ids in lower-case hex, ParentSpanId null for a root.</summary>
public sealed record ReceivedSpan(string Service, string Scope, string TraceId, string SpanId, string? ParentSpanId, string Name,
    SpanKind Kind, IReadOnlyDictionary<string, string> Attributes, DateTime Start, DateTime End)
{
    public override string ToString() => $"{Service} {Kind} '{Name}' {TraceId}/{SpanId} <- {ParentSpanId ?? "root"}";
}

public enum SpanKind { Unspecified, Internal, Server, Client, Producer, Consumer }

/// <summary>
/// An OTLP/HTTP trace receiver on 127.0.0.1 (POST /v1/traces, protobuf): what a collector or Jaeger would get, decoded by
/// the small protobuf reader below (only the fields a test looks at). Point a host at it with
/// OTEL_EXPORTER_OTLP_ENDPOINT=<see cref="Endpoint"/> and OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OtlpReceiver(WebApplication app, int port)
    {
        _app = app;
        Endpoint = $"http://127.0.0.1:{port}";
    }

    public string Endpoint { get; }
    public ConcurrentQueue<ReceivedSpan> Spans { get; } = new();

    public static async Task<OtlpReceiver> StartAsync()
    {
        int port = LoopbackPort.Free();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        var receiver = new OtlpReceiver(app, port);
        app.MapPost("/v1/traces", async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            foreach (var span in OtlpTraceDecoder.Decode(body.ToArray())) receiver.Spans.Enqueue(span);
            context.Response.ContentType = "application/x-protobuf";
            context.Response.StatusCode = 200; // an empty ExportTraceServiceResponse
        });
        await app.StartAsync();
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>ExportTraceServiceRequest → spans (opentelemetry/proto/trace/v1/trace.proto field numbers).</summary>
public static class OtlpTraceDecoder
{
    public static List<ReceivedSpan> Decode(byte[] request)
    {
        var spans = new List<ReceivedSpan>();
        foreach (var (field, resourceSpans) in Fields(request))
        {
            if (field != 1) continue; // resource_spans
            string service = "";
            foreach (var (f, v) in Fields(resourceSpans))
            {
                if (f == 1) // resource
                    foreach (var (rf, kv) in Fields(v))
                        if (rf == 1 && KeyValue(kv) is ("service.name", var name)) service = name;
            }
            foreach (var (f, scopeSpans) in Fields(resourceSpans))
            {
                if (f != 2) continue; // scope_spans
                string scope = "";
                foreach (var (sf, sv) in Fields(scopeSpans))
                    if (sf == 1) scope = Fields(sv).Where(x => x.Field == 1).Select(x => Encoding.UTF8.GetString(x.Value)).FirstOrDefault() ?? "";
                foreach (var (sf, span) in Fields(scopeSpans))
                    if (sf == 2) spans.Add(Span(service, scope, span));
            }
        }
        return spans;
    }

    private static ReceivedSpan Span(string service, string scope, byte[] span)
    {
        string trace = "", id = "", name = "";
        string? parent = null;
        var kind = SpanKind.Unspecified;
        ulong start = 0, end = 0;
        var attributes = new Dictionary<string, string>();
        foreach (var (f, v) in Fields(span))
        {
            switch (f)
            {
                case 1: trace = Convert.ToHexStringLower(v); break;
                case 2: id = Convert.ToHexStringLower(v); break;
                case 4: parent = v.Length == 0 ? null : Convert.ToHexStringLower(v); break;
                case 5: name = Encoding.UTF8.GetString(v); break;
                case 6: kind = (SpanKind)(int)ReadVarint(v, 0, out _); break;
                case 7: start = BitConverter.ToUInt64(v); break;
                case 8: end = BitConverter.ToUInt64(v); break;
                case 9: var (key, value) = KeyValue(v); attributes[key] = value; break;
            }
        }
        return new ReceivedSpan(service, scope, trace, id, parent, name, kind, attributes,
            DateTime.UnixEpoch.AddTicks((long)(start / 100)), DateTime.UnixEpoch.AddTicks((long)(end / 100)));
    }

    /// <summary>A KeyValue with its AnyValue as text (string, bool, int or double).</summary>
    private static (string Key, string Value) KeyValue(byte[] kv)
    {
        string key = "", value = "";
        foreach (var (f, v) in Fields(kv))
        {
            if (f == 1) key = Encoding.UTF8.GetString(v);
            else if (f == 2)
                foreach (var (af, av) in Fields(v))
                    value = af switch
                    {
                        1 => Encoding.UTF8.GetString(av),
                        2 => (ReadVarint(av, 0, out _) != 0).ToString(),
                        3 => ((long)ReadVarint(av, 0, out _)).ToString(System.Globalization.CultureInfo.InvariantCulture),
                        4 => BitConverter.ToDouble(av).ToString(System.Globalization.CultureInfo.InvariantCulture),
                        _ => value,
                    };
        }
        return (key, value);
    }

    /// <summary>The fields of one message; varints come back as their bytes, fixed64/32 as 8/4 little-endian bytes.</summary>
    private static IEnumerable<(int Field, byte[] Value)> Fields(byte[] message)
    {
        int at = 0;
        while (at < message.Length)
        {
            ulong tag = ReadVarint(message, at, out at);
            int field = (int)(tag >> 3);
            switch ((int)(tag & 7))
            {
                case 0:
                    int from = at;
                    ReadVarint(message, at, out at);
                    yield return (field, message[from..at]);
                    break;
                case 1: yield return (field, message[at..(at + 8)]); at += 8; break;
                case 2:
                    int length = (int)ReadVarint(message, at, out at);
                    yield return (field, message[at..(at + length)]);
                    at += length;
                    break;
                case 5: yield return (field, message[at..(at + 4)]); at += 4; break;
                default: throw new FormatException($"protobuf wire type {tag & 7} at byte {at}");
            }
        }
    }

    private static ulong ReadVarint(byte[] data, int at, out int next)
    {
        ulong value = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte b = data[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) break;
        }
        next = at;
        return value;
    }
}
