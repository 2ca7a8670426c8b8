using System.Diagnostics;
using LoRAQueue.Contracts;
using LoRAQueue.Core;
using MassTransit;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Worker;

/// <summary>Publishes a <see cref="WorkerLoadReport"/> every LoadReportInterval (first one at start-up).</summary>
public sealed class LoadReporter(IBus bus, EngineRuntime runtime, RankQueueEndpoints endpoints, AdapterCache adapters, WorkerStats stats,
                                 WorkerSettings settings, TimeProvider clock, ILogger<LoadReporter> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(settings.LoadReportInterval, clock);
        long lastTokens = stats.OutputTokens;
        long lastTimestamp = Stopwatch.GetTimestamp();
        do
        {
            long tokens = stats.OutputTokens, now = Stopwatch.GetTimestamp();
            double seconds = Stopwatch.GetElapsedTime(lastTimestamp, now).TotalSeconds;
            double tokensPerSecond = seconds > 0 ? (tokens - lastTokens) / seconds : 0;
            (lastTokens, lastTimestamp) = (tokens, now);
            try
            {
                await bus.Publish(Report(tokensPerSecond), stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning("Could not publish the load report: {Message}", e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    private WorkerLoadReport Report(double tokensPerSecond)
    {
        var queues = endpoints.Connected;
        var buckets = queues.Select(RankBuckets.ParseQueueName).ToList();
        int inEngine = stats.InEngine, capacity = settings.MaxSequences;
        var engine = runtime.Engine;
        return new WorkerLoadReport
        {
            Worker = settings.Id,
            RankBuckets = [.. buckets.OfType<int>().Order()],
            ServesBase = buckets.Contains(null),
            // The engine runs up to MaxSequences at once; jobs beyond that wait inside it.
            RunningSequences = Math.Min(inEngine, capacity),
            WaitingSequences = Math.Max(0, inEngine - capacity),
            KvBlocksFree = engine.KvBlocksFree,
            KvBlocksTotal = engine.KvBlockCount,
            TokensPerSecond = Math.Round(tokensPerSecond, 1),
            ResidentAdapters = [.. adapters.Resident],
            At = clock.GetUtcNow(),
        };
    }
}
