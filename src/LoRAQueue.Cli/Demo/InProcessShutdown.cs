using LoRAQueue.Worker;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Cli.Demo;

/// <summary>
/// The end of an in-process fleet's shutdown (demo, benchmark), after its endpoints have drained: the engines stop, the
/// bus stops, then the runtimes and the container go — the order a worker host stops in.
/// </summary>
internal static class InProcessShutdown
{
    public static async Task StopEnginesAndBusAsync(IReadOnlyList<(WorkerNode Node, Task EngineLoop)> workers, CancellationTokenSource stopEngines,
                                                   ServiceProvider services)
    {
        await stopEngines.CancelAsync();
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(InProcessShutdown));
        foreach (var (node, engineLoop) in workers)
        {
            try
            {
                await engineLoop;
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception e)
            {
                logger.LogError("The engine of {Worker} failed: {Message}", node.Settings.Id, e.Message);
            }
        }
        try
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await services.GetRequiredService<IBusControl>().StopAsync(stop.Token);
        }
        finally
        {
            foreach (var (node, _) in workers) node.Runtime.Dispose();
            await services.DisposeAsync();
            stopEngines.Dispose();
        }
    }
}
