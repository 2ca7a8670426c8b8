using LoRAQueue.Messaging;
using MassTransit;

namespace LoRAQueue.Gateway.Tests;

/// <summary>The in-memory transport's queue step (JobPublisher runs it before every send) with a hook run first: tests make
/// a send slow, make it fail (the gateway answers 503 as for a broker that did not confirm), or stop the whole request with
/// an OperationCanceledException — the one error JobIntake does not turn into a per-job result — as a SIGKILLed gateway would.</summary>
internal sealed class ScriptedDeclarer : IRankQueueDeclarer
{
    public Func<CancellationToken, Task>? BeforeSend { get; set; }

    /// <summary>A hook that lets <paramref name="sends"/> sends through, then stops the request.</summary>
    public static Func<CancellationToken, Task> StopAfter(int sends)
    {
        int calls = 0;
        return _ => Interlocked.Increment(ref calls) > sends ? throw new OperationCanceledException("the gateway stopped") : Task.CompletedTask;
    }

    public Task DeclareAllAsync(CancellationToken ct) => Task.CompletedTask;

    public Task EnsureQueueAsync(string queueName, CancellationToken ct) => BeforeSend?.Invoke(ct) ?? Task.CompletedTask;

    public void ConfigureEndpoint(IReceiveEndpointConfigurator endpoint) { }
}
