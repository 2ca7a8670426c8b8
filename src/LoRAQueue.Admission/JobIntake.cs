using LoRAQueue.Contracts;
using LoRAQueue.Contracts.Admission;
using LoRAQueue.History;
using LoRAQueue.Messaging;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Admission;

/// <summary>
/// The .NET way in: <see cref="AdmitAsync"/> runs the <see cref="SubmitJobRules"/> (fields, then the adapter's registry
/// record, then the prompt's tokens), <see cref="QueueAsync"/> sends admitted jobs to their rank queues and then records
/// every one that was sent as queued, in one write. The send comes first: a job is never recorded that is not on a queue.
/// </summary>
public sealed class JobIntake(IAdapterRegistry registry, ModelLimits model, JobPublisher publisher, IJobHistory history,
                              TimeProvider clock, ILogger<JobIntake> logger)
{
    private const int SendConcurrency = 8;

    public AdmissionLimits Limits => model.Limits;

    /// <summary>Registry records already read for one request, so a batch of 10,000 lines naming one adapter reads it once.</summary>
    public sealed class AdapterLookups
    {
        internal readonly Dictionary<string, AdapterRecord?> Records = new(StringComparer.Ordinal);
    }

    /// <summary>The admitted job (with a job id and submission time filled in when missing), or throws
    /// <see cref="JobRejectedException"/> naming the first rule it breaks.</summary>
    public async Task<AdmittedJob> AdmitAsync(SubmitJob job, AdapterLookups lookups, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(lookups);
        if (job.JobId == Guid.Empty) job = job with { JobId = NewId.NextGuid() };
        if (job.SubmittedAt == default) job = job with { SubmittedAt = clock.GetUtcNow() };
        Reject(SubmitJobRules.CheckFields(job, Limits));

        AdapterRecord? adapter = null;
        if (job.AdapterId is { } adapterId && SubmitJobRules.IsAdapterIdShape(adapterId))
        {
            if (!lookups.Records.TryGetValue(adapterId, out adapter))
                lookups.Records[adapterId] = adapter = await registry.GetAsync(adapterId, ct).ConfigureAwait(false);
        }
        Reject(SubmitJobRules.CheckAdapter(job, adapter?.Tenant));

        int promptTokens = model.CountTokens(job.Prompt);
        Reject(SubmitJobRules.CheckLength(promptTokens, job.MaxTokens, Limits));
        return new AdmittedJob(job, adapter?.RankBucket, promptTokens);
    }

    /// <summary>Sends each job (a few at a time), then records the sent ones queued in one history write. A job the broker
    /// refused, or did not take within <paramref name="sendTimeout"/> of its own send (a broker down or blocked; MassTransit
    /// would wait for it to come back), comes back with its error and is not recorded. A history write that fails after the sends is
    /// logged, not thrown: the jobs are on their queues and the worker's events fill their rows.</summary>
    public async Task<IReadOnlyList<QueuedJob>> QueueAsync(IReadOnlyList<AdmittedJob> jobs, CancellationToken ct, TimeSpan? sendTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        var results = new QueuedJob[jobs.Count];
        await Parallel.ForAsync(0, jobs.Count, new ParallelOptions { MaxDegreeOfParallelism = SendConcurrency, CancellationToken = ct },
            async (i, token) =>
            {
                var admitted = jobs[i];
                // Each send has the whole timeout: a 1,000-line batch takes longer than 5 s to send on a busy host without any
                // one send being slow, and a deadline shared by all would refuse its tail.
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
                if (sendTimeout is { } timeout) deadline.CancelAfter(timeout);
                try
                {
                    results[i] = new QueuedJob(admitted, await publisher.SendAsync(admitted.Job, admitted.RankBucket, deadline.Token).ConfigureAwait(false), null);
                }
                catch (OperationCanceledException) when (deadline.IsCancellationRequested && !ct.IsCancellationRequested)
                {
                    results[i] = new QueuedJob(admitted, null,
                        new TimeoutException($"the broker did not take the job within {sendTimeout!.Value.TotalSeconds:0.#} s"));
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    results[i] = new QueuedJob(admitted, null, e);
                }
            }).ConfigureAwait(false);

        var sent = results.Where(r => r.Sent).Select(r => new QueuedJobRecord(r.Admitted.Job, r.Admitted.RankBucket)).ToList();
        if (sent.Count > 0)
        {
            try
            {
                await history.RecordQueuedAsync(sent, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("{Count} queued jobs not recorded as queued (their events will record them): {Message}", sent.Count, e.Message);
            }
        }
        return results;
    }

    /// <summary>Admits and queues one job: the whole path for an in-process .NET producer. Returns the queue it went to;
    /// throws <see cref="JobRejectedException"/> for a refused job and the broker's exception for one not sent.</summary>
    public async Task<QueuedJob> SubmitAsync(SubmitJob job, CancellationToken ct = default)
    {
        var admitted = await AdmitAsync(job, new AdapterLookups(), ct).ConfigureAwait(false);
        var queued = (await QueueAsync([admitted], ct).ConfigureAwait(false))[0];
        if (queued.Error is { } error) throw new InvalidOperationException($"job {admitted.Job.JobId} was not queued: {error.Message}", error);
        return queued;
    }

    private static void Reject(JobRejection? rejection)
    {
        if (rejection is not null) throw new JobRejectedException(rejection);
    }
}
