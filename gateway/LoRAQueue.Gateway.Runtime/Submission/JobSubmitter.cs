using LoRAQueue.Admission;
using LoRAQueue.Contracts;
using LoRAQueue.Contracts.Admission;
using LoRAQueue.History.Tenants;
using LoRAQueue.Webhooks;

namespace LoRAQueue.Gateway.Submission;

/// <summary>
/// The HTTP side of admission: turns a <see cref="JobRequest"/> into a <see cref="SubmitJob"/>, has <see cref="JobIntake"/>
/// admit it (the <see cref="SubmitJobRules"/> every entrance runs), then adds the one check only the gateway can make —
/// where the webhook URL resolves to. A refusal is a <see cref="RequestException"/> with the rule's code; nothing is sent.
/// </summary>
public sealed class JobSubmitter(JobIntake intake, WebhookUrlValidator webhooks, GatewaySettings settings, DemandRecorder? demand = null)
{
    /// <summary>Per-request memo of adapter records and webhook checks: a batch of 10,000 lines naming the same adapter and URL
    /// reads the registry and asks DNS once.</summary>
    public sealed class Lookups
    {
        internal readonly JobIntake.AdapterLookups Adapters = new();
        internal readonly Dictionary<string, string?> WebhookVerdicts = new(StringComparer.Ordinal);
    }

    /// <summary>The admitted job, or throws <see cref="RequestException"/> saying what is wrong with the request.
    /// <paramref name="jobId"/> null: a new id; otherwise the id the job must have (a batch line's, or an idempotent retry's).</summary>
    public async Task<AdmittedJob> PrepareAsync(JobRequest request, Tenant tenant, Guid? batchId, Guid? jobId, Lookups lookups, CancellationToken ct)
    {
        AdmittedJob admitted;
        try
        {
            admitted = await intake.AdmitAsync(ToSubmitJob(request, tenant, batchId, jobId), lookups.Adapters, ct);
        }
        catch (JobRejectedException e)
        {
            throw new RequestException(Problems.Rejected(e.Rejection));
        }
        if (request.WebhookUrl is { } url && await CheckWebhookAsync(url, lookups, ct) is { } refused)
            throw new RequestException(Problems.WebhookRefused("webhook_url", refused));
        return admitted;
    }

    /// <summary>Null when <paramref name="url"/> may receive webhooks, otherwise the validator's reason.</summary>
    public async Task<string?> CheckWebhookAsync(string url, Lookups lookups, CancellationToken ct)
    {
        if (!lookups.WebhookVerdicts.TryGetValue(url, out var verdict))
            lookups.WebhookVerdicts[url] = verdict = await webhooks.ValidateAsync(url, ct);
        return verdict;
    }

    /// <summary>Sends the jobs and records them queued (<see cref="JobIntake.QueueAsync"/>), then adds what the sent ones may
    /// cost to their adapters' demand. A job not sent failed at the broker, not the caller: its result says 503. A broker that
    /// does not take a job within <see cref="GatewaySettings.SendTimeout"/> counts as not taking it.</summary>
    public async Task<IReadOnlyList<QueuedJob>> QueueAsync(IReadOnlyList<AdmittedJob> jobs, CancellationToken ct)
    {
        var queued = await intake.QueueAsync(jobs, ct, settings.SendTimeout);
        await RecordDemandAsync(queued.Where(q => q.Sent).Select(q => q.Admitted));
        return queued;
    }

    /// <summary>The problem for a job the broker did not take; the caller may retry (with the same Idempotency-Key).</summary>
    public static Problem NotQueued(QueuedJob job) =>
        Problems.QueueUnavailable($"the job could not be queued ({job.Error!.GetType().Name}: {job.Error.Message}); nothing was queued, retry later");

    /// <summary>One demand write per adapter for a whole request, not one per job.</summary>
    private async Task RecordDemandAsync(IEnumerable<AdmittedJob> queued)
    {
        if (demand is null) return;
        foreach (var adapter in queued.GroupBy(p => p.Job.AdapterId))
            await demand.RecordAsync(adapter.Key, adapter.Sum(p => p.PromptTokens + p.Job.MaxTokens));
    }

    private SubmitJob ToSubmitJob(JobRequest r, Tenant tenant, Guid? batchId, Guid? jobId) => new()
    {
        JobId = jobId ?? Guid.Empty, // empty: JobIntake gives it a new id
        Tenant = tenant.Id,
        AdapterId = r.Adapter,
        Prompt = r.Prompt ?? "",
        Sampling = r.Temperature is null && r.TopP is null && r.TopK is null && r.Seed is null && r.Stop is null ? null
            : new SamplingOptions { Temperature = r.Temperature ?? 0, TopP = r.TopP ?? 1, TopK = r.TopK ?? 0, Seed = r.Seed, Stop = r.Stop },
        MaxTokens = r.MaxTokens ?? intake.Limits.DefaultMaxTokens,
        WebhookUrl = r.WebhookUrl,
        Metadata = r.Metadata,
        BatchId = batchId,
        CustomId = r.CustomId,
        DemandRecorded = demand is not null,
    };
}
