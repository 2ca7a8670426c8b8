using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Worker;

/// <summary>Runs the engine's step loop on its own thread for the life of the host. If a step throws, the engine has
/// failed every request it held; the worker then stops rather than take more jobs it cannot run.</summary>
public sealed class EngineLoopService(EngineRuntime runtime, IHostApplicationLifetime lifetime, ILogger<EngineLoopService> logger)
    : IHostedService
{
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _loop = runtime.Engine.RunAsync(_stop.Token);
        _loop.ContinueWith(t =>
        {
            logger.LogCritical(t.Exception, "The engine loop failed; stopping the worker");
            lifetime.StopApplication();
        }, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stop.CancelAsync();
        if (_loop is null) return;
        try
        {
            await _loop.WaitAsync(cancellationToken);
        }
        catch (Exception) when (_loop.IsCanceled || _loop.IsFaulted || cancellationToken.IsCancellationRequested)
        {
        }
    }
}
