using System.Data.Common;
using System.Net.Sockets;
using MassTransit;
using RabbitMQ.Client.Exceptions;
using StackExchange.Redis;

namespace LoRAQueue.Messaging;

/// <summary>
/// How a consumer that writes to a dependency (Postgres, Redis, the broker) treats failures: a transient one — the
/// server down, restarting, refusing or timing out — is retried in place, backing off to <see cref="MaxInterval"/>, for
/// as long as an outage plausibly lasts (<see cref="RetryLimit"/> tries, about five hours), so the message waits the
/// outage out on the consumer and everything behind it waits in the queue. Anything else (a constraint, a value the
/// database refuses, a bug) is not retried: the message goes to <c>&lt;queue&gt;_error</c> at once, where
/// <c>loraqueue dead-letters</c> lists and replays it, and it holds no consumer slot meanwhile. Stopping the host
/// cancels the wait and leaves the message on its queue.
/// </summary>
public static class OutageRetry
{
    public const int RetryLimit = 2000;
    public static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(200);
    public static readonly TimeSpan MaxInterval = TimeSpan.FromSeconds(10);

    /// <summary>The retry policy: <c>consumerConfigurator.UseMessageRetry(OutageRetry.Configure)</c>.</summary>
    public static void Configure(IRetryConfigurator retry)
    {
        ArgumentNullException.ThrowIfNull(retry);
        retry.Handle<Exception>(IsTransient);
        retry.Exponential(RetryLimit, MinInterval, MaxInterval, TimeSpan.FromMilliseconds(500));
    }

    /// <summary>True for failures another try may not meet: the dependency unreachable, restarting or overloaded.</summary>
    public static bool IsTransient(Exception exception) => exception switch
    {
        // Npgsql: connection refused or reset, admin shutdown (57P01), cannot connect now (57P03), pool exhausted, …
        DbException db => db.IsTransient || exception.InnerException is { } inner && IsTransient(inner),
        TimeoutException or SocketException or IOException => true,
        RedisConnectionException or RedisTimeoutException => true,
        BrokerUnreachableException or AlreadyClosedException or ConnectionException => true, // RabbitMQ, publishing from a consumer
        RabbitMQ.Client.Exceptions.PublishException { IsReturn: false } => true, // RabbitMQ.Client: the broker nacked a confirmed publish (a queue lost its leader, …)
        AggregateException aggregate => aggregate.InnerExceptions.Any(IsTransient),
        _ => exception.InnerException is { } inner && IsTransient(inner),
    };
}
