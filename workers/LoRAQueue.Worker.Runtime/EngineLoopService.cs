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
        if (runtime.Engine.IsEmulated) _report = ReportEmulationAsync(_stop.Token);
        return Task.CompletedTask;
    }

    private Task? _report;

    /// <summary>Every 5 s, the emulated engine's totals so far (`bench cluster` takes differences of them).</summary>
    private async Task ReportEmulationAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(5));
        try
        {
            while (await timer.WaitForNextTickAsync(ct)) LogEmulation();
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void LogEmulation() =>
        logger.LogInformation("Emulation: modelled {Modelled:F3} s of steps, lost {Lost:F3} s behind the model",
            runtime.Engine.EmulationModelledTime.TotalSeconds, runtime.Engine.EmulationLostTime.TotalSeconds);

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
        // What `bench cluster` reads (also every 5 s): how far the emulated steps fell behind the cost model on this host.
        if (runtime.Engine.IsEmulated)
        {
            if (_report is not null) await _report;
            LogEmulation();
        }
    }
}
