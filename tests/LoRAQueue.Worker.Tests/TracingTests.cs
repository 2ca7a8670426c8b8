using System.Diagnostics;
using LoRAQueue.Engine;
using LoRAQueue.Hosting.Tracing;
using LoRAQueue.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace LoRAQueue.Worker.Tests;

public sealed class TracingSettingsTests
{
    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void With_nothing_set_tracing_is_off_and_no_tracer_provider_or_exporter_is_registered()
    {
        var configuration = Config();
        var settings = TracingSettings.From(configuration);
        Assert.False(settings.Enabled);
        Assert.False(settings.Exports);

        var services = new ServiceCollection();
        Assert.False(services.AddLoRAQueueTracing(configuration, "test"));
        using var provider = services.BuildServiceProvider();
        Assert.Null(provider.GetService<TracerProvider>());
    }

    [Fact]
    public void The_standard_otlp_variable_or_our_key_turns_export_on()
    {
        var fromEnvironment = TracingSettings.From(Config(("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")));
        Assert.True(fromEnvironment is { Enabled: true, Exports: true, OtlpFromEnvironment: true, OtlpEndpoint: null });

        var configuration = Config(("LoRAQueue:Tracing:OtlpEndpoint", "http://collector:4318"), ("LoRAQueue:Tracing:OtlpProtocol", "http/protobuf"));
        var ours = TracingSettings.From(configuration);
        Assert.Equal(new Uri("http://collector:4318"), ours.OtlpEndpoint);
        Assert.Equal("http/protobuf", ours.OtlpProtocol);

        var services = new ServiceCollection();
        Assert.True(services.AddLoRAQueueTracing(configuration, "test"));
        using var provider = services.BuildServiceProvider();
        Assert.NotNull(provider.GetService<TracerProvider>());
    }

    [Fact]
    public void Enabled_alone_records_without_exporting_and_false_wins_over_an_endpoint()
    {
        Assert.True(TracingSettings.From(Config(("LoRAQueue:Tracing:Enabled", "true"))) is { Enabled: true, Exports: false });
        Assert.Same(TracingSettings.Off, TracingSettings.From(Config(("LoRAQueue:Tracing:Enabled", "false"),
                                                                     ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"))));
    }

    [Theory]
    [InlineData("LoRAQueue:Tracing:OtlpEndpoint", "collector:4317")]
    [InlineData("LoRAQueue:Tracing:OtlpProtocol", "http/json")]
    [InlineData("LoRAQueue:Tracing:Enabled", "yes")]
    public void A_bad_value_names_its_key(string key, string value)
    {
        var e = Assert.Throws<FormatException>(() => TracingSettings.From(Config((key, value))));
        Assert.Contains(key, e.Message);
    }
}

public sealed class JobTracingTests
{
    [Fact]
    public void Engine_phases_are_three_consecutive_spans_under_the_current_one_built_from_the_engine_timings()
    {
        var spans = new List<Activity>();
        using var test = new ActivitySource("LoRAQueue.Tests.JobTracing");
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name is "LoRAQueue.Worker" or "LoRAQueue.Tests.JobTracing",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => { lock (spans) spans.Add(a); },
        };
        ActivitySource.AddActivityListener(listener);
        var finished = new DateTime(2026, 1, 1, 12, 0, 0, DateTimeKind.Utc);
        var result = new GenerationResult("j", [1, 2, 3, 4], "text", FinishReason.Length,
            new RequestTimings(Wait: TimeSpan.FromMilliseconds(10), TimeToFirstToken: TimeSpan.FromMilliseconds(30),
                               TimePerOutputToken: TimeSpan.FromMilliseconds(20), Total: TimeSpan.FromMilliseconds(100)), 7, null);

        using (var consume = test.StartActivity("consume"))
        {
            JobTracing.EnginePhases(result, finished);
            lock (spans)
            {
                var phases = spans.Where(s => s.ParentSpanId == consume!.SpanId).ToDictionary(s => s.OperationName);
                Assert.Equal(["engine.decode", "engine.prefill", "engine.queue"], phases.Keys.Order());
                Assert.Equal((finished.AddMilliseconds(-100), finished.AddMilliseconds(-90)), Span(phases["engine.queue"]));
                Assert.Equal((finished.AddMilliseconds(-90), finished.AddMilliseconds(-70)), Span(phases["engine.prefill"]));
                Assert.Equal((finished.AddMilliseconds(-70), finished), Span(phases["engine.decode"]));
                Assert.Equal(7, phases["engine.prefill"].GetTagItem("loraqueue.prompt_tokens"));
                Assert.Equal(4, phases["engine.decode"].GetTagItem("loraqueue.output_tokens"));
                Assert.Equal("length", phases["engine.decode"].GetTagItem("loraqueue.finish_reason"));
            }
        }
    }

    private static (DateTime Start, DateTime End) Span(Activity a) => (a.StartTimeUtc, a.StartTimeUtc + a.Duration);
}
