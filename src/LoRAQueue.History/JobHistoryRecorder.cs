using LoRAQueue.Contracts;
using LoRAQueue.Messaging;
using MassTransit;

namespace LoRAQueue.History;

/// <summary>
/// Records the workers' job events in the history. Delivery is at least once and in any order; the history's
/// upserts make redeliveries and late events harmless, so the consumer just forwards each one.
/// </summary>
public sealed class JobHistoryRecorder(IJobHistory history) :
    IConsumer<JobStarted>, IConsumer<JobCompleted>, IConsumer<JobFailed>
{
    public Task Consume(ConsumeContext<JobStarted> context) => history.RecordStartedAsync(context.Message, context.CancellationToken);

    public Task Consume(ConsumeContext<JobCompleted> context) => history.RecordCompletedAsync(context.Message, context.CancellationToken);

    public Task Consume(ConsumeContext<JobFailed> context) => history.RecordFailedAsync(context.Message, context.CancellationToken);
}

/// <summary>Receive endpoint <c>job-history</c>; a database outage is waited out, a write the database refuses goes to
/// <c>job-history_error</c> at once (<see cref="OutageRetry"/>).</summary>
public sealed class JobHistoryRecorderDefinition : ConsumerDefinition<JobHistoryRecorder>
{
    public const string QueueName = "job-history";

    public JobHistoryRecorderDefinition() => EndpointName = QueueName;

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<JobHistoryRecorder> consumerConfigurator, IRegistrationContext context)
    {
        consumerConfigurator.UseMessageRetry(OutageRetry.Configure);
    }
}

public static class JobHistoryRecorderRegistration
{
    /// <summary>Adds <see cref="JobHistoryRecorder"/> on receive endpoint <c>job-history</c>. The host registers an
    /// <see cref="IJobHistory"/> and calls ConfigureEndpoints.</summary>
    public static IBusRegistrationConfigurator AddJobHistoryRecorder(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<JobHistoryRecorder, JobHistoryRecorderDefinition>();
        return bus;
    }
}
