namespace LoRAQueue.Contracts.Admission;

/// <summary>The fields of a <see cref="SubmitJob"/> that admission rules speak about. Each entrance names them in its own
/// wire spelling (<see cref="JobFieldNames"/>), so a rule is written once and reads right on HTTP and on AMQP.</summary>
public enum JobField
{
    SchemaVersion, JobId, Prompt, AdapterId, MaxTokens, Temperature, TopP, TopK, Stop, Metadata, CustomId, WebhookUrl,
}

/// <summary>How an entrance spells each <see cref="JobField"/>: snake_case on the HTTP API, camelCase paths in raw AMQP JSON.</summary>
public sealed class JobFieldNames(Func<JobField, string> name)
{
    public string this[JobField field] => name(field);

    public static readonly JobFieldNames Http = new(f => f switch
    {
        JobField.SchemaVersion => "schema_version", JobField.JobId => "job_id", JobField.Prompt => "prompt",
        JobField.AdapterId => "adapter", JobField.MaxTokens => "max_tokens", JobField.Temperature => "temperature",
        JobField.TopP => "top_p", JobField.TopK => "top_k", JobField.Stop => "stop", JobField.Metadata => "metadata",
        JobField.CustomId => "custom_id", JobField.WebhookUrl => "webhook_url", _ => f.ToString(),
    });

    public static readonly JobFieldNames Amqp = new(f => f switch
    {
        JobField.SchemaVersion => "schemaVersion", JobField.JobId => "jobId", JobField.Prompt => "prompt",
        JobField.AdapterId => "adapterId", JobField.MaxTokens => "maxTokens", JobField.Temperature => "sampling.temperature",
        JobField.TopP => "sampling.topP", JobField.TopK => "sampling.topK", JobField.Stop => "sampling.stop",
        JobField.Metadata => "metadata", JobField.CustomId => "customId", JobField.WebhookUrl => "webhookUrl", _ => f.ToString(),
    });
}

/// <summary>
/// Why a job is refused: a stable <see cref="Code"/> (<see cref="FailureReasons"/>: the HTTP problem's <c>code</c> and the
/// <see cref="JobFailed.ReasonCode"/> alike), the field it concerns (null when the job as a whole) and what is wrong with it,
/// written to follow the field's name: "must be between 1 and 2047 (got 0)". Other fields it mentions are written
/// <c>{MaxTokens}</c> (a <see cref="JobField"/> in braces) and named by the entrance too.
/// </summary>
public sealed record JobRejection(string Code, JobField? Field, string Problem)
{
    /// <summary>The sentence a producer reads, with the fields named as its entrance spells them.</summary>
    public string Message(JobFieldNames names)
    {
        var text = Problem;
        if (text.Contains('{'))
            foreach (var mentioned in Enum.GetValues<JobField>()) text = text.Replace("{" + mentioned + "}", names[mentioned]);
        return Field is { } field ? $"{names[field]} {text}" : text;
    }
}
