using System.Diagnostics;
using LoRAQueue.Contracts;
using LoRAQueue.Engine;

namespace LoRAQueue.Worker;

/// <summary>
/// The worker's spans for one job, under MassTransit's consume span of its SubmitJob: <c>engine.queue</c> (engine submit →
/// first scheduled), <c>engine.prefill</c> (→ first output token) and <c>engine.decode</c> (→ finished). They are built
/// after the job from the engine's own timings, so the step loop does no tracing work at all; with no listener
/// (tracing off) every call returns at the first check.
/// </summary>
public static class JobTracing
{
    public static readonly ActivitySource Source = new("LoRAQueue.Worker");

    /// <summary>Names the job on the consume span (its message id is the job id too, but not for every producer).</summary>
    public static void Tag(SubmitJob job)
    {
        if (Activity.Current is not { IsAllDataRequested: true } span) return;
        span.SetTag("loraqueue.job_id", job.JobId.ToString());
        span.SetTag("loraqueue.tenant", job.Tenant);
        span.SetTag("loraqueue.adapter_id", job.AdapterId);
    }

    /// <summary>A job that ended as JobFailed: acknowledged, so the consume succeeded, but the span says why it failed.</summary>
    public static void Failed(string reasonCode, string message)
    {
        if (Activity.Current is not { IsAllDataRequested: true } span) return;
        span.SetTag("loraqueue.failure_reason", reasonCode);
        span.SetStatus(ActivityStatusCode.Error, message);
    }

    /// <summary>The engine phases of a finished generation, ending now.</summary>
    public static void EnginePhases(GenerationResult result) => EnginePhases(result, DateTime.UtcNow);

    public static void EnginePhases(GenerationResult result, DateTime finishedAt)
    {
        if (!Source.HasListeners()) return;
        var t = result.Timings;
        var submitted = finishedAt - t.Total;
        var scheduled = submitted + t.Wait;
        var firstToken = t.TimeToFirstToken > TimeSpan.Zero ? submitted + t.TimeToFirstToken : finishedAt;
        Phase("engine.queue", submitted, scheduled, null);
        Phase("engine.prefill", scheduled, firstToken, s => s.SetTag("loraqueue.prompt_tokens", result.PromptTokenCount));
        Phase("engine.decode", firstToken, finishedAt, s =>
        {
            s.SetTag("loraqueue.output_tokens", result.OutputTokens.Count);
            s.SetTag("loraqueue.finish_reason", result.FinishReason.ToString().ToLowerInvariant());
            s.SetTag("loraqueue.tpot_ms", t.TimePerOutputToken.TotalMilliseconds);
            if (result.Preemptions > 0) s.SetTag("loraqueue.preemptions", result.Preemptions);
        });
    }

    private static void Phase(string name, DateTime start, DateTime end, Action<Activity>? tag)
    {
        using var span = Source.StartActivity(name, ActivityKind.Internal, parentContext: default, startTime: start);
        if (span is null) return;
        if (span.IsAllDataRequested) tag?.Invoke(span);
        span.SetEndTime(end < start ? start : end);
    }
}
