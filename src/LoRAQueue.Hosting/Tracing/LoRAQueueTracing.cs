using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace LoRAQueue.Hosting.Tracing;

/// <summary>
/// The one tracing set-up of every host (gateway, worker, scheduler, <c>loraqueue serve</c>): LoRAQueue's own sources,
/// MassTransit's ("MassTransit": send, receive, consume, publish, with W3C context in the message headers) and HTTP client
/// spans, exported over OTLP when <see cref="TracingSettings"/> says so. With tracing off nothing is registered, so no
/// listener exists and every StartActivity returns null.
/// </summary>
public static class LoRAQueueTracing
{
    /// <summary>Sources LoRAQueue itself starts spans from (worker engine phases, webhook attempts …).</summary>
    public const string SourcePrefix = "LoRAQueue.";
    public const string MassTransitSource = "MassTransit"; // MassTransit.Logging.DiagnosticHeaders.DefaultListenerName

    private static int _processProviders;

    /// <summary>True while <see cref="StartProcessProvider"/>'s provider is alive: hosts in this process add none of their own
    /// (several providers in one process would each export every span, under their own service names).</summary>
    public static bool ProcessProviderActive => Volatile.Read(ref _processProviders) > 0;

    /// <summary>Registers tracing for one host under <paramref name="serviceName"/> when configured; returns whether it did.
    /// <paramref name="configure"/> adds host-specific instrumentation (the gateway's ASP.NET Core spans) or, in tests, an
    /// exporter of their own.</summary>
    public static bool AddLoRAQueueTracing(this IServiceCollection services, IConfiguration configuration, string serviceName,
                                           Action<TracerProviderBuilder>? configure = null)
    {
        var settings = TracingSettings.From(configuration);
        if (!settings.Enabled || ProcessProviderActive) return false;
        services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName))
            .WithTracing(b =>
            {
                Configure(b, settings);
                configure?.Invoke(b);
            });
        return true;
    }

    /// <summary>One provider for a process that runs several hosts (<c>loraqueue serve gateway worker …</c>); null when
    /// tracing is off. Dispose it after the hosts have stopped: that flushes the last spans.</summary>
    public static IDisposable? StartProcessProvider(IConfiguration configuration, string serviceName, Action<TracerProviderBuilder>? configure = null)
    {
        var settings = TracingSettings.From(configuration);
        if (!settings.Enabled) return null;
        var builder = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(ResourceBuilder.CreateDefault().AddService(serviceName));
        Configure(builder, settings);
        configure?.Invoke(builder);
        var provider = builder.Build()!;
        Interlocked.Increment(ref _processProviders);
        return new ProcessProvider(provider);
    }

    private static void Configure(TracerProviderBuilder builder, TracingSettings settings)
    {
        builder.AddSource(SourcePrefix + "*", MassTransitSource)
            .AddHttpClientInstrumentation()
            .SetSampler(new ParentBasedSampler(new RootSampler()));
        if (settings.OtlpEndpoint is { } endpoint)
            builder.AddOtlpExporter(o =>
            {
                o.Protocol = settings.OtlpProtocol == "http/protobuf" ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
                // Set in code, the HTTP endpoint is used as given; a bare collector address means its usual path.
                o.Endpoint = o.Protocol == OtlpExportProtocol.HttpProtobuf && endpoint.AbsolutePath == "/" ? new Uri(endpoint, "v1/traces") : endpoint;
            });
        else if (settings.OtlpFromEnvironment)
            builder.AddOtlpExporter(); // endpoint, protocol, headers, timeout from OTEL_EXPORTER_OTLP_*
    }

    /// <summary>Samples every root span except HTTP client calls made outside any trace (the scheduler's polls of the
    /// RabbitMQ management API, …), which would otherwise each be a trace of one span.</summary>
    private sealed class RootSampler : Sampler
    {
        private const string HttpClientOperation = "System.Net.Http.HttpRequestOut";

        public override SamplingResult ShouldSample(in SamplingParameters parameters) =>
            new(parameters.Name == HttpClientOperation ? SamplingDecision.Drop : SamplingDecision.RecordAndSample);
    }

    private sealed class ProcessProvider(TracerProvider provider) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            provider.Dispose(); // flushes
            Interlocked.Decrement(ref _processProviders);
        }
    }
}
