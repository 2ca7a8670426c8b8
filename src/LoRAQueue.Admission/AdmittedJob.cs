using LoRAQueue.Contracts;
using LoRAQueue.Contracts.Admission;

namespace LoRAQueue.Admission;

/// <summary>A job that met every rule, with the rank bucket its adapter's registry record names (null = lora-base) and its
/// prompt's token count (what the gateway adds to the adapter's demand).</summary>
public sealed record AdmittedJob(SubmitJob Job, int? RankBucket, int PromptTokens);

/// <summary>Where an admitted job went: its queue, or why the broker did not take it.</summary>
public sealed record QueuedJob(AdmittedJob Admitted, string? Queue, Exception? Error)
{
    public bool Sent => Error is null;
}

/// <summary>A job refused by an admission rule; <see cref="Rejection"/> says which, with its stable code.</summary>
public sealed class JobRejectedException(JobRejection rejection)
    : Exception($"{rejection.Code}: {rejection.Message(JobFieldNames.Amqp)}")
{
    public JobRejection Rejection { get; } = rejection;
}
