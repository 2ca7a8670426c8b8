using System.CommandLine;
using LoRAQueue.Gateway.Operations;
using LoRAQueue.History;
using LoRAQueue.Hosting;
using LoRAQueue.Messaging;
using LoRAQueue.Webhooks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue dead-letters [replay QUEUE]`: what consumers could not process, and putting it back once the cause is fixed.</summary>
internal static class DeadLetterCommands
{
    public static Command Create()
    {
        var command = new Command("dead-letters",
            "Count the messages each LoRAQueue queue's consumer could not process (in <queue>_error, with the reason in MT-Fault-* headers) " +
            "and those the broker dead-lettered (lora-dead-letter: over a quorum queue's delivery limit); " +
            "the broker is $LORAQUEUE__RABBITMQ__* (host, port, virtualhost, username, password)");
        command.SetAction((parse, ct) => RunAsync(parse, async (deadLetters, token) =>
        {
            var counts = (await deadLetters.CountAsync(KnownQueues(), token)).ToList();
            // What the broker dead-lettered itself: a message over a quorum queue's delivery limit (its consumer kept crashing).
            if (await deadLetters.CountBrokerDeadLettersAsync(token) is { } broker) counts.Add(broker);
            var output = parse.InvocationConfiguration.Output;
            foreach (var count in counts) output.WriteLine($"{count.ErrorQueue,-32} {count.Messages,8}");
            output.WriteLine(counts.Sum(c => c.Messages) == 0
                ? "no dead letters"
                : "replay a queue's with: loraqueue dead-letters replay <queue> (after fixing what made them fail)");
            return 0;
        }, ct));

        var queue = new Argument<string>("queue") { Description = "The queue to replay into, e.g. job-history (its messages come from job-history_error); lora-dead-letter: each message back to the queue it was dead-lettered from" };
        var limit = new Option<int?>("--limit") { Description = "Move at most this many (default: all there are now)" };
        var replay = new Command("replay", "Move dead letters back to their queue, unchanged but for the fault headers") { queue, limit };
        replay.SetAction((parse, ct) => RunAsync(parse, async (deadLetters, token) =>
        {
            if (parse.GetValue(limit) is < 1) throw new CliException("--limit must be at least 1");
            string name = parse.GetValue(queue)!;
            int moved = await deadLetters.ReplayAsync(name, parse.GetValue(limit), token);
            parse.InvocationConfiguration.Output.WriteLine(name == RankQueueTopology.DeadLetterQueue
                ? $"replayed {moved} messages from {name} to the queues they were dead-lettered from"
                : $"replayed {moved} messages from {name}{DeadLetters.ErrorSuffix} to {name}");
            return 0;
        }, ct));
        command.Subcommands.Add(replay);
        return command;
    }

    /// <summary>Every queue a LoRAQueue consumer reads with a fixed name: the recorders and the rank queues.</summary>
    private static IEnumerable<string> KnownQueues() =>
        [JobHistoryRecorderDefinition.QueueName, WebhookEnqueuerDefinition.QueueName, GatewayMetricsConsumer.QueueName,
         .. BusRegistration.RankBucketsOf(Configuration()).AllQueueNames()];

    private static IConfiguration Configuration() => new ConfigurationBuilder().AddEnvironmentVariables().Build();

    private static async Task<int> RunAsync(ParseResult parse, Func<DeadLetters, CancellationToken, Task<int>> action, CancellationToken ct)
    {
        try
        {
            return await action(new DeadLetters(SectionOptions.Read<RabbitMqSettings>(Configuration())), ct);
        }
        catch (Exception e) when (e is CliException or OptionsValidationException or ArgumentException
                                   or RabbitMQ.Client.Exceptions.BrokerUnreachableException or RabbitMQ.Client.Exceptions.OperationInterruptedException)
        {
            return CliOutput.Fail(parse.InvocationConfiguration.Error, e.Message);
        }
    }
}
