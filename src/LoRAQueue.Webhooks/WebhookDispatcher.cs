using System.Collections.Concurrent;
using LoRAQueue.Messaging;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Webhooks;

/// <summary>
/// Claims due deliveries (FOR UPDATE SKIP LOCKED, so any number of processes can run one), sends them with at most
/// <see cref="WebhookOptions.MaxConcurrentDeliveries"/> in flight, and records each attempt with the next due time.
/// </summary>
internal sealed class WebhookDispatcher(DeliveryQueue queue, WebhookSender sender, WebhookOptions options,
                                        ILogger<WebhookDispatcher> logger) : BackgroundService
{
    /// <summary>Margin on top of the send timeout before a claim lapses and another dispatcher may retry.</summary>
    private static readonly TimeSpan LeaseMargin = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<Guid, byte> _inFlight = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        int max = options.MaxConcurrentDeliveries;
        using var slots = new SemaphoreSlim(max, max);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await slots.WaitAsync(stoppingToken);
                int free = 1;
                while (free < max && slots.Wait(0)) free++;
                IReadOnlyList<ClaimedDelivery> claimed = [];
                try
                {
                    claimed = await queue.ClaimDueAsync(free, options.Timeout + LeaseMargin, (IReadOnlyCollection<Guid>)_inFlight.Keys, stoppingToken);
                    foreach (var delivery in claimed) _inFlight[delivery.Id] = 0;
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    logger.LogWarning(e, "Claiming due webhook deliveries failed; retrying in {Interval}", options.PollInterval);
                }
                finally
                {
                    if (free > claimed.Count) slots.Release(free - claimed.Count);
                }
                foreach (var delivery in claimed)
                    _ = Task.Run(() => DeliverAndRelease(delivery, slots, stoppingToken), CancellationToken.None);
                // A full claim means more may be due right away; otherwise nothing is due until the next poll.
                if (claimed.Count < free) await Task.Delay(options.PollInterval, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        // Sends stop with the token (their claims lapse and another dispatcher retries them); wait for every slot
        // so no send outlives the service.
        for (int i = 0; i < max; i++) await slots.WaitAsync(CancellationToken.None);
    }

    private async Task DeliverAndRelease(ClaimedDelivery delivery, SemaphoreSlim slots, CancellationToken stoppingToken)
    {
        try
        {
            await DeliverAsync(delivery, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            logger.LogError(e, "Webhook delivery {DeliveryId} failed unexpectedly; it is retried when its claim lapses", delivery.Id);
        }
        finally
        {
            _inFlight.TryRemove(delivery.Id, out _);
            slots.Release();
        }
    }

    internal async Task DeliverAsync(ClaimedDelivery delivery, CancellationToken stoppingToken)
    {
        using var span = WebhookTracing.StartAttempt(delivery);
        var outcome = await sender.SendAsync(delivery, stoppingToken);
        TimeSpan? retryDelay = outcome.Succeeded || !outcome.Retryable || delivery.RoundAttempts >= options.RetrySchedule.Length
            ? null
            : options.RetrySchedule[delivery.RoundAttempts];
        var status = await RecordAsync(delivery, outcome, retryDelay, stoppingToken);
        WebhookTracing.Outcome(span, outcome, status);
        switch (status)
        {
            case null:
                logger.LogWarning("Webhook delivery {DeliveryId}: another dispatcher recorded an attempt first; this one is dropped", delivery.Id);
                break;
            case DeliveryStatus.Delivered:
                logger.LogDebug("Webhook {DeliveryId} delivered to {Url} ({StatusCode})", delivery.Id, delivery.Url, outcome.StatusCode);
                break;
            case DeliveryStatus.Dead:
                logger.LogWarning("Webhook {DeliveryId} to {Url} is dead after attempt {Attempt}: {Error}",
                                  delivery.Id, delivery.Url, delivery.AttemptCount + 1, outcome.Error);
                break;
            default:
                logger.LogInformation("Webhook {DeliveryId} to {Url} attempt {Attempt} failed ({Error}); next in {Delay}",
                                      delivery.Id, delivery.Url, delivery.AttemptCount + 1, outcome.Error, retryDelay);
                break;
        }
    }

    /// <summary>Records the attempt, waiting out a database outage: the receiver has its answer, and an attempt not recorded
    /// would be sent again once its lease ran out.</summary>
    private async Task<DeliveryStatus?> RecordAsync(ClaimedDelivery delivery, AttemptOutcome outcome, TimeSpan? retryDelay,
                                                    CancellationToken stoppingToken)
    {
        for (var wait = OutageRetry.MinInterval; ; wait = TimeSpan.FromTicks(Math.Min(wait.Ticks * 2, OutageRetry.MaxInterval.Ticks)))
        {
            try
            {
                return await queue.RecordAttemptAsync(delivery, outcome, retryDelay, stoppingToken);
            }
            catch (Exception e) when (OutageRetry.IsTransient(e) && !stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning("Webhook delivery {DeliveryId}: recording attempt {Attempt} failed ({Error}); retrying in {Wait}",
                                  delivery.Id, delivery.AttemptCount + 1, e.Message, wait);
                await Task.Delay(wait, stoppingToken);
            }
        }
    }
}
