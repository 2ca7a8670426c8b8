using System.Collections.Concurrent;

namespace LoRAQueue.Integration.Tests;

/// <summary>
/// Submits jobs at a steady pace in the background, every tick a number of jobs per adapter given by the current mix,
/// which the test may change while it runs. Keeps the id of every job it submitted.
/// </summary>
public sealed class SteadyLoad : IAsyncDisposable
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(100);
    private readonly Pipeline _pipeline;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<Guid> _submitted = new();
    private readonly Task _loop;
    private volatile IReadOnlyDictionary<string, double> _mix;

    /// <param name="mix">Jobs per tick for each adapter id; fractions accumulate (0.25 = one job every fourth tick).</param>
    public SteadyLoad(Pipeline pipeline, IReadOnlyDictionary<string, double> mix)
    {
        _pipeline = pipeline;
        _mix = mix;
        _loop = Task.Run(RunAsync);
    }

    public IReadOnlyCollection<Guid> Submitted => [.. _submitted];

    public void ChangeMix(IReadOnlyDictionary<string, double> mix) => _mix = mix;

    private async Task RunAsync()
    {
        var owed = new Dictionary<string, double>();
        using var timer = new PeriodicTimer(Tick);
        int n = 0;
        while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
        {
            foreach (var (adapter, perTick) in _mix)
            {
                owed[adapter] = owed.GetValueOrDefault(adapter) + perTick;
                for (; owed[adapter] >= 1; owed[adapter] -= 1)
                {
                    var job = _pipeline.Job(adapter, $"Steady job {n++} for {adapter}", maxTokens: 8);
                    await _pipeline.Intake.SubmitAsync(job, _stop.Token).ConfigureAwait(false);
                    _submitted.Enqueue(job.JobId);
                }
            }
        }
    }

    /// <summary>Stops submitting; rethrows what made submission fail, if anything did.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        try { await _loop; }
        catch (OperationCanceledException) { }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_loop.IsCompleted) await StopAsync();
        _stop.Dispose();
    }
}
