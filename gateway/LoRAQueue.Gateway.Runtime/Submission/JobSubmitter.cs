using LoRAQueue.Contracts;
using LoRAQueue.History;
using LoRAQueue.History.Tenants;
using LoRAQueue.Messaging;
using LoRAQueue.Webhooks;
using MassTransit;

namespace LoRAQueue.Gateway.Submission;

/// <summary>A job ready to publish, with its prompt's token count (for the demand the gateway records).</summary>
public sealed record PreparedJob(SubmitJob Job, int PromptTokens);

/// <summary>
/// Turns a <see cref="JobRequest"/> into a <see cref="SubmitJob"/> after every check a worker would make and a few only the
/// gateway can (the tenant owns the adapter, the webhook URL is safe), then publishes it. Checks run cheapest first:
/// fields, adapter, prompt tokens, webhook URL (which may resolve DNS). A refused request publishes nothing.
/// </summary>
public sealed class JobSubmitter(IAdapterRegistry adapters, ModelLimits model, WebhookUrlValidator webhooks, JobPublisher publisher,
                                 TimeProvider clock, DemandRecorder? demand = null)
{
    public const int MaxStopStrings = 16, MaxMetadataEntries = 64, MaxMetadataKeyLength = 128, MaxMetadataValueLength = 2048;
    public const int MaxCustomIdLength = 256, MaxUrlLength = 2048, DefaultMaxTokens = 64;

    /// <summary>Per-request memo of adapter look-ups and webhook checks, so a batch of 10,000 lines naming the same
    /// adapter and URL asks the registry and DNS once.</summary>
    public sealed class Lookups
    {
        internal readonly Dictionary<string, AdapterRecord?> Adapters = new(StringComparer.Ordinal);
        internal readonly Dictionary<string, string?> WebhookVerdicts = new(StringComparer.Ordinal);
    }

    /// <summary>The job to publish, or throws <see cref="RequestException"/> saying what is wrong with the request.</summary>
    public async Task<PreparedJob> PrepareAsync(JobRequest request, Tenant tenant, Guid? batchId, Lookups lookups, CancellationToken ct)
    {
        CheckFields(request);
        int maxTokens = request.MaxTokens ?? Math.Min(DefaultMaxTokens, model.MaxTokens);

        if (request.Adapter is { } adapterId)
        {
            if (!lookups.Adapters.TryGetValue(adapterId, out var adapter))
                lookups.Adapters[adapterId] = adapter = await adapters.GetAsync(adapterId, ct);
            // Another tenant's adapter reads exactly like a missing one: its existence is not ours to reveal.
            if (adapter is null || !string.Equals(adapter.Tenant, tenant.Id, StringComparison.Ordinal))
                throw new RequestException(Problems.UnknownAdapter(adapterId));
        }

        if (model.CheckFits(request.Prompt!, maxTokens, out int promptTokens) is { } tooLong)
            throw new RequestException(Problems.PromptTooLong(tooLong));
        if (request.WebhookUrl is { } url && await CheckWebhookAsync(url, lookups, ct) is { } refused)
            throw new RequestException(Problems.WebhookRefused("webhook_url", refused));

        return new PreparedJob(new SubmitJob
        {
            JobId = NewId.NextGuid(),
            Tenant = tenant.Id,
            AdapterId = request.Adapter,
            Prompt = request.Prompt!,
            Sampling = SamplingOf(request),
            MaxTokens = maxTokens,
            WebhookUrl = request.WebhookUrl,
            Metadata = request.Metadata,
            SubmittedAt = clock.GetUtcNow(),
            BatchId = batchId,
            CustomId = request.CustomId,
            DemandRecorded = demand is not null,
        }, promptTokens);
    }

    /// <summary>Null when <paramref name="url"/> may receive webhooks, otherwise the validator's reason.</summary>
    public async Task<string?> CheckWebhookAsync(string url, Lookups lookups, CancellationToken ct)
    {
        if (url.Length > MaxUrlLength) return $"the URL is longer than {MaxUrlLength} characters";
        if (!lookups.WebhookVerdicts.TryGetValue(url, out var verdict))
            lookups.WebhookVerdicts[url] = verdict = await webhooks.ValidateAsync(url, ct);
        return verdict;
    }

    /// <summary>Sends the job to its rank queue and records it Queued. A failure here is the broker's or the database's,
    /// not the caller's: 503, and the caller may retry (with the same Idempotency-Key).</summary>
    public async Task<PublishedJob> PublishAsync(PreparedJob prepared, CancellationToken ct)
    {
        var job = prepared.Job;
        try
        {
            return await publisher.SubmitAsync(job, ct);
        }
        catch (UnknownAdapterException e)
        {
            throw new RequestException(Problems.UnknownAdapter(e.AdapterId)); // unregistered between the check and the send
        }
        catch (Exception e) when (e is not OperationCanceledException and not RequestException)
        {
            throw new RequestException(Problems.QueueUnavailable($"the job could not be queued ({e.GetType().Name}: {e.Message}); retry later"));
        }
    }

    /// <summary>Adds what the queued jobs may cost (prompt tokens + max_tokens) to their adapters' demand: one write per
    /// adapter for a whole request, not one per job (a batch may hold 10,000).</summary>
    public async Task RecordDemandAsync(IEnumerable<PreparedJob> queued)
    {
        if (demand is null) return;
        foreach (var adapter in queued.GroupBy(p => p.Job.AdapterId))
            await demand.RecordAsync(adapter.Key, adapter.Sum(p => p.PromptTokens + p.Job.MaxTokens));
    }

    private void CheckFields(JobRequest r)
    {
        if (string.IsNullOrWhiteSpace(r.Prompt)) throw Invalid("prompt is required and must not be empty");
        if (r.Adapter is { } adapter && string.IsNullOrWhiteSpace(adapter))
            throw Invalid("adapter is blank: leave it out (or null) for the base model");
        if (r.MaxTokens is { } maxTokens && (maxTokens < 1 || maxTokens > model.MaxTokens))
            throw new RequestException(Problems.InvalidMaxTokens(
                $"max_tokens must be between 1 and {model.MaxTokens} (got {maxTokens}); the model's context is {model.ContextLength} tokens"));
        if (r.Temperature is { } t && (!float.IsFinite(t) || t < 0)) throw Invalid($"temperature must be a number ≥ 0, 0 = greedy (got {t})");
        if (r.TopP is { } p && !(p > 0 && p <= 1)) throw Invalid($"top_p must be in (0, 1] (got {p})");
        if (r.TopK is < 0) throw Invalid($"top_k must be ≥ 0, 0 = off (got {r.TopK})");
        if (r.Stop is { } stop)
        {
            if (stop.Length > MaxStopStrings) throw Invalid($"stop has {stop.Length} strings; at most {MaxStopStrings}");
            if (stop.Any(string.IsNullOrEmpty)) throw Invalid("stop must not contain empty strings");
        }
        if (r.Metadata is { } metadata)
        {
            if (metadata.Count > MaxMetadataEntries) throw Invalid($"metadata has {metadata.Count} entries; at most {MaxMetadataEntries}");
            foreach (var (key, value) in metadata)
            {
                if (key.Length is 0 or > MaxMetadataKeyLength) throw Invalid($"metadata keys must be 1 to {MaxMetadataKeyLength} characters");
                if (value is null) throw Invalid($"metadata '{key}' is null; values are strings");
                if (value.Length > MaxMetadataValueLength) throw Invalid($"metadata '{key}' is longer than {MaxMetadataValueLength} characters");
            }
        }
        if (r.CustomId is { } customId && (customId.Length is 0 or > MaxCustomIdLength))
            throw Invalid($"custom_id must be 1 to {MaxCustomIdLength} characters");
    }

    private static SamplingOptions? SamplingOf(JobRequest r)
    {
        if (r.Temperature is null && r.TopP is null && r.TopK is null && r.Seed is null && r.Stop is null) return null;
        return new SamplingOptions { Temperature = r.Temperature ?? 0, TopP = r.TopP ?? 1, TopK = r.TopK ?? 0, Seed = r.Seed, Stop = r.Stop };
    }

    private static RequestException Invalid(string detail) => new(Problems.InvalidRequest(detail));
}
