using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Webhooks;

/// <summary>
/// Polls for batches whose accepted jobs are all terminal, marks them complete and enqueues batch.completed.
/// Jobs reach their terminal state through the history recorder, a different consumer, so a check triggered by
/// the job event itself could run before the history has the job: polling the history avoids that race.
/// </summary>
internal sealed class BatchCompletionWatcher(DeliveryQueue queue, WebhookOptions options, ILogger<BatchCompletionWatcher> logger)
    : BackgroundService
{
    private const int BatchesPerStatement = 100;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                int completed = 0;
                try
                {
                    var batches = await queue.CompleteBatchesAsync(BatchesPerStatement, stoppingToken);
                    completed = batches.Count;
                    foreach (var batch in batches)
                        logger.LogInformation("Batch {BatchId} completed: {Completed} completed, {Failed} failed{Webhook}", batch.BatchId,
                                              batch.Completed, batch.Failed, batch.WebhookUrl is null ? "" : "; batch.completed enqueued");
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    logger.LogWarning(e, "Checking for completed batches failed; retrying in {Interval}", options.PollInterval);
                }
                if (completed < BatchesPerStatement) await Task.Delay(options.PollInterval, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
