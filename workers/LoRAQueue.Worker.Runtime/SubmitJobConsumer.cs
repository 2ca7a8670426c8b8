using LoRAQueue.Contracts;
using LoRAQueue.Contracts.Admission;
using LoRAQueue.Core;
using LoRAQueue.Engine;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Worker;

/// <summary>A SubmitJob that can never be answered (no jobId): it goes to the queue's _error queue with this reason.</summary>
public sealed class UnanswerableJobException(string message) : Exception(message);

/// <summary>
/// Runs one job: admission rules → make the adapter resident → hand it to the engine → JobStarted → await the result →
/// JobCompleted. The message is acknowledged only when Consume returns, that is after the outcome event is published
/// (publisher confirms). A job that can never run ends as JobFailed with a reason code and is acknowledged; a job the
/// worker gives up on while stopping throws, so the broker delivers it again to another worker. Not registered with
/// the bus: <see cref="RankQueueEndpoints"/> connects it to the rank queues only, one instance per message.
/// </summary>
public sealed class SubmitJobConsumer(EngineRuntime runtime, AdapterCache adapters, WorkerSettings settings,
                                      WorkerStats stats, WorkerShutdown shutdown, TimeProvider clock,
                                      ILogger<SubmitJobConsumer> logger) : IConsumer<SubmitJob>
{
    public async Task Consume(ConsumeContext<SubmitJob> context)
    {
        var job = context.Message;
        using var consumeOrAbandon = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, shutdown.Abandoned);
        var ct = consumeOrAbandon.Token;
        if (job.JobId == Guid.Empty)
            throw new UnanswerableJobException("SubmitJob has no jobId (a non-empty GUID), so no result or failure can be reported for it");
        JobTracing.Tag(job);
        int? bucket = BucketOf(context);
        var pickedUpAt = clock.GetUtcNow();
        if (job.SubmittedAt == default) job = job with { SubmittedAt = pickedUpAt }; // producers may leave it out

        // The same rules the gateway runs (SubmitJobRules): a raw AMQP producer gets the same codes an HTTP client does.
        var limits = runtime.Limits;
        if (SubmitJobRules.CheckFields(job, limits) is { } rejection)
        {
            await PublishFailed(context, job, bucket, rejection, ct);
            return;
        }
        // Held until the job ends, so that a placement change does not evict the adapter under it.
        using var adapterUse = job.AdapterId is { } used ? adapters.Use(used) : null;
        AdapterLoad? adapterLoad = null;
        if (job.AdapterId is { } adapterId)
        {
            var lookup = await adapters.EnsureLoadedAsync(adapterId, ct);
            adapterLoad = lookup.Load;
            var problem = SubmitJobRules.CheckAdapter(job, lookup.Record?.Tenant)
                ?? (lookup.Loaded ? null : new JobRejection(FailureReasons.UnknownAdapter, JobField.AdapterId, lookup.Problem!));
            if (problem is not null)
            {
                await PublishFailed(context, job, bucket, problem, ct);
                return;
            }
        }
        var promptTokens = runtime.Tokenizer.Encode(job.Prompt);
        if (SubmitJobRules.CheckLength(promptTokens.Count, job.MaxTokens, limits) is { } tooLong)
        {
            await PublishFailed(context, job, bucket, tooLong, ct);
            return;
        }

        // Cancelled when this consume ends without a result (a failed publish, the worker giving up), so the engine
        // never keeps generating for a job whose message goes back to the queue.
        using var generationCancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Task<GenerationResult> generation;
        try
        {
            generation = runtime.Engine.Submit(ToRequest(job, promptTokens), generationCancel.Token);
        }
        catch (ArgumentException e) // the engine's own invariants; the rules above should have caught the job first
        {
            logger.LogError("Engine refused admitted job {JobId}: {Message}", job.JobId, e.Message);
            await PublishFailed(context, job, bucket, new JobRejection(FailureReasons.EngineError, null, e.Message), ct);
            return;
        }
        stats.Submitted();
        int outputTokens = 0;
        try
        {
            await context.Publish(new JobStarted
            {
                JobId = job.JobId, Tenant = job.Tenant, AdapterId = job.AdapterId, RankBucket = bucket, Worker = settings.Id,
                SubmittedAt = job.SubmittedAt, StartedAt = pickedUpAt, Prompt = job.Prompt, Metadata = job.Metadata, WebhookUrl = job.WebhookUrl,
                BatchId = job.BatchId, CustomId = job.CustomId,
            }, ct);

            GenerationResult result;
            try
            {
                result = await generation;
            }
            catch (InvalidOperationException e) when (!ct.IsCancellationRequested) // the engine step threw
            {
                logger.LogError(e, "Engine failed job {JobId}", job.JobId);
                await PublishFailed(context, job, bucket, new JobRejection(FailureReasons.EngineError, null, e.InnerException?.Message ?? e.Message), ct);
                return;
            }
            if (result.FinishReason == FinishReason.Cancelled)
                throw new OperationCanceledException($"job {job.JobId} was cancelled by the worker stopping; it returns to the queue", ct);
            outputTokens = result.OutputTokens.Count;
            JobTracing.EnginePhases(result);

            var completedAt = clock.GetUtcNow();
            await context.Publish(new JobCompleted
            {
                JobId = job.JobId, Tenant = job.Tenant, AdapterId = job.AdapterId, RankBucket = bucket, Worker = settings.Id,
                OutputText = result.Text, PromptTokens = result.PromptTokenCount, OutputTokens = outputTokens,
                FinishReason = result.FinishReason.ToString().ToLowerInvariant(),
                Timings = Timings(job, pickedUpAt, completedAt, result.Timings), AdapterLoad = adapterLoad,
                SubmittedAt = job.SubmittedAt, CompletedAt = completedAt, WebhookUrl = job.WebhookUrl, Metadata = job.Metadata,
                BatchId = job.BatchId, CustomId = job.CustomId,
            }, ct);
            stats.Completed(new CompletedJobSample(job.AdapterId, bucket, result.PromptTokenCount, outputTokens,
                                                   result.Timings.TimePerOutputToken, stats.InEngine, job.DemandRecorded));
            logger.LogInformation("Job {JobId} completed on {Queue}: {Tokens} tokens in {Ms:F0} ms", job.JobId,
                RankBuckets.QueueName(bucket), outputTokens, result.Timings.Total.TotalMilliseconds);
        }
        finally
        {
            if (!generation.IsCompleted) await generationCancel.CancelAsync();
            stats.Finished(outputTokens);
        }
    }

    private async Task PublishFailed(ConsumeContext context, SubmitJob job, int? bucket, JobRejection rejection, CancellationToken ct)
    {
        var message = rejection.Message(JobFieldNames.Amqp);
        logger.LogWarning("Job {JobId} failed: {Reason}: {Message}", job.JobId, rejection.Code, message);
        JobTracing.Failed(rejection.Code, message);
        await context.Publish(new JobFailed
        {
            JobId = job.JobId, Tenant = job.Tenant, AdapterId = job.AdapterId, RankBucket = bucket, Worker = settings.Id,
            ReasonCode = rejection.Code, Message = message, SubmittedAt = job.SubmittedAt, FailedAt = clock.GetUtcNow(),
            WebhookUrl = job.WebhookUrl, Metadata = job.Metadata, BatchId = job.BatchId, CustomId = job.CustomId,
        }, ct);
    }

    private static GenerationRequest ToRequest(SubmitJob job, IReadOnlyList<int> promptTokens)
    {
        var s = job.Sampling;
        return new GenerationRequest(job.JobId.ToString("N"), promptTokens, job.AdapterId,
            s is null ? null : new SamplingParams(s.Temperature, s.TopP, s.TopK, s.Seed),
            job.MaxTokens, s?.Stop is { Length: > 0 } stop ? stop : null);
    }

    /// <summary>Queue = submitted → picked up (0 when the producer gave no submittedAt, or a clock ahead of ours);
    /// the rest from the engine; Total = submitted → completed.</summary>
    private static JobTimings Timings(SubmitJob job, DateTimeOffset pickedUpAt, DateTimeOffset completedAt, RequestTimings engine)
    {
        var start = job.SubmittedAt > pickedUpAt ? pickedUpAt : job.SubmittedAt;
        return new JobTimings(
            QueueMs: (pickedUpAt - start).TotalMilliseconds,
            WaitMs: engine.Wait.TotalMilliseconds,
            TtftMs: engine.TimeToFirstToken.TotalMilliseconds,
            TpotMs: engine.TimePerOutputToken.TotalMilliseconds,
            TotalMs: (completedAt - start).TotalMilliseconds);
    }

    /// <summary>The rank bucket of the queue the message came from (lora-rank-32 → 32, lora-base → null).</summary>
    private static int? BucketOf(ConsumeContext context)
    {
        var queue = context.ReceiveContext.InputAddress.AbsolutePath.TrimEnd('/');
        queue = queue[(queue.LastIndexOf('/') + 1)..];
        try
        {
            return RankBuckets.ParseQueueName(queue);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
