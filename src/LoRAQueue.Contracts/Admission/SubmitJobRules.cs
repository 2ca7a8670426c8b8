namespace LoRAQueue.Contracts.Admission;

/// <summary>
/// Every rule a <see cref="SubmitJob"/> must meet to be admitted, in one place. Each entrance runs them: the gateway before
/// it queues a job (a refusal is an HTTP problem with <see cref="JobRejection.Code"/>), a worker when a message arrives
/// from any producer (a refusal is a <see cref="JobFailed"/> with the same code). Cheapest first: <see cref="CheckFields"/>
/// needs nothing, <see cref="CheckAdapter"/> the adapter's registry record, <see cref="CheckLength"/> the prompt's tokens.
/// </summary>
public static class SubmitJobRules
{
    public const int DefaultMaxTokens = 64;
    public const int MaxStopStrings = 16, MaxMetadataEntries = 64, MaxMetadataKeyLength = 128, MaxMetadataValueLength = 2048;
    public const int MaxCustomIdLength = 256, MaxWebhookUrlLength = 2048, MaxAdapterIdLength = 128;

    /// <summary>No tokenizer packs this many characters into one token on average: a longer prompt cannot fit, unread.</summary>
    public const int MaxCharactersPerToken = 64;

    /// <summary>The first rule <paramref name="job"/> breaks that needs neither the registry nor the tokenizer; null when none.</summary>
    public static JobRejection? CheckFields(SubmitJob job, AdmissionLimits limits)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(limits);
        if (job.SchemaVersion < 1 || job.SchemaVersion > MessageSchema.CurrentVersion)
            return Invalid(JobField.SchemaVersion, $"{job.SchemaVersion} is not supported (read: 1..{MessageSchema.CurrentVersion})");
        if (string.IsNullOrWhiteSpace(job.Prompt)) return Invalid(JobField.Prompt, "is required and must not be empty");
        if (job.AdapterId is { } adapter && string.IsNullOrWhiteSpace(adapter))
            return Invalid(JobField.AdapterId, "is blank: leave it out (or null) for the base model");
        if (job.MaxTokens < 1 || job.MaxTokens > limits.MaxTokens)
            return new(FailureReasons.InvalidMaxTokens, JobField.MaxTokens,
                $"must be between 1 and {limits.MaxTokens} (got {job.MaxTokens}); the model's context is {limits.ContextLength} tokens");
        if (job.Sampling is { } s)
        {
            if (!float.IsFinite(s.Temperature) || s.Temperature < 0)
                return Invalid(JobField.Temperature, $"must be a number ≥ 0, 0 = greedy (got {s.Temperature})");
            if (!(s.TopP > 0 && s.TopP <= 1)) return Invalid(JobField.TopP, $"must be in (0, 1] (got {s.TopP})");
            if (s.TopK < 0) return Invalid(JobField.TopK, $"must be ≥ 0, 0 = off (got {s.TopK})");
            if (s.Stop is { } stop)
            {
                if (stop.Length > MaxStopStrings) return Invalid(JobField.Stop, $"has {stop.Length} strings; at most {MaxStopStrings}");
                if (stop.Any(string.IsNullOrEmpty)) return Invalid(JobField.Stop, "must not contain empty strings");
            }
        }
        if (job.Metadata is { } metadata)
        {
            if (metadata.Count > MaxMetadataEntries) return Invalid(JobField.Metadata, $"has {metadata.Count} entries; at most {MaxMetadataEntries}");
            foreach (var (key, value) in metadata)
            {
                if (key.Length is 0 or > MaxMetadataKeyLength) return Invalid(JobField.Metadata, $"keys must be 1 to {MaxMetadataKeyLength} characters");
                if (value is null) return Invalid(JobField.Metadata, $"'{key}' is null; values are strings");
                if (value.Length > MaxMetadataValueLength)
                    return Invalid(JobField.Metadata, $"'{key}' is longer than {MaxMetadataValueLength} characters");
            }
        }
        if (job.CustomId is { } customId && customId.Length is 0 or > MaxCustomIdLength)
            return Invalid(JobField.CustomId, $"must be 1 to {MaxCustomIdLength} characters");
        // An id is matched and listed, so it must survive every store as given; a prompt or metadata may hold any character.
        if (job.CustomId is { } id && id.Contains('\0', StringComparison.Ordinal))
            return Invalid(JobField.CustomId, "must not contain U+0000");
        if (job.WebhookUrl is { } url && CheckWebhookUrlSyntax(url, out _) is { } badUrl)
            return new(FailureReasons.WebhookUrlRefused, JobField.WebhookUrl, $"is refused: {badUrl}");
        if (job.Prompt.Length > (long)limits.ContextLength * MaxCharactersPerToken)
            return new(FailureReasons.PromptTooLong, null,
                $"the prompt has {job.Prompt.Length} characters, far beyond the model's context of {limits.ContextLength} tokens");
        return null;
    }

    /// <summary>The adapter rule: a job names an adapter registered to its own tenant. <paramref name="ownerTenant"/> is the
    /// registry's owner of <see cref="SubmitJob.AdapterId"/>, null when it is not registered. Another tenant's adapter reads
    /// exactly like a missing one: its existence is not ours to reveal.</summary>
    public static JobRejection? CheckAdapter(SubmitJob job, string? ownerTenant)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (job.AdapterId is not { } id) return null;
        if (!IsAdapterIdShape(id))
            return new(FailureReasons.UnknownAdapter, JobField.AdapterId,
                $"'{id}' is not a valid adapter id (1 to {MaxAdapterIdLength} letters, digits, '-', '_', '.')");
        return ownerTenant is not null && string.Equals(ownerTenant, job.Tenant, StringComparison.Ordinal)
            ? null
            : new(FailureReasons.UnknownAdapter, JobField.AdapterId, $"'{id}' is not registered for this tenant");
    }

    /// <summary>The length rule, once the prompt is tokenized: prompt + maxTokens fit the context and, on a worker, its KV cache.</summary>
    public static JobRejection? CheckLength(int promptTokens, int maxTokens, AdmissionLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        long total = (long)promptTokens + maxTokens;
        if (promptTokens >= limits.ContextLength || total > limits.ContextLength)
            return new(FailureReasons.PromptTooLong, null,
                $"the prompt is {promptTokens} tokens; with {{MaxTokens}} {maxTokens} that is {total}, beyond the model's context of {limits.ContextLength} tokens");
        // The last sampled token never needs a KV slot.
        if (limits.MaxSequenceTokens is { } capacity && total - 1 > capacity)
            return new(FailureReasons.PromptTooLong, null,
                $"the prompt ({promptTokens} tokens) plus {{MaxTokens}} {maxTokens} needs {total - 1} KV slots; this worker's whole cache holds {capacity}");
        return null;
    }

    /// <summary>The webhook URL checks that need no DNS: absolute http(s), a host, no user-info, no fragment, not too long.
    /// (Where the host resolves to is checked by the gateway at submission and by the sender at every connect.)</summary>
    public static string? CheckWebhookUrlSyntax(string? url, out Uri uri)
    {
        uri = null!;
        if (string.IsNullOrWhiteSpace(url)) return "webhook URL is empty";
        if (url.Length > MaxWebhookUrlLength) return $"webhook URL is longer than {MaxWebhookUrlLength} characters";
        if (url.Any(char.IsControl)) return "webhook URL contains a control character"; // Uri would quietly escape or drop it
        // On Unix "/x/y" parses as an absolute file: URI, so the scheme must also be what the text says.
        if (!Uri.TryCreate(url, UriKind.Absolute, out var parsed) || !url.StartsWith(parsed.Scheme + ":", StringComparison.OrdinalIgnoreCase))
            return $"webhook URL '{url}' is not an absolute URL";
        if (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps)
            return $"webhook URL scheme '{parsed.Scheme}' is not allowed; use http or https";
        if (parsed.UserInfo.Length > 0) return "webhook URL must not contain a user name or password";
        if (string.IsNullOrEmpty(parsed.Host)) return $"webhook URL '{url}' has no host";
        if (parsed.Fragment.Length > 0) return "webhook URL must not contain a fragment (#…)";
        uri = parsed;
        return null;
    }

    /// <summary>Adapter ids are directory names in the adapter store: nothing that could walk out of it.</summary>
    public static bool IsAdapterIdShape(string id) =>
        id.Length is > 0 and <= MaxAdapterIdLength && id != "." && id != ".."
        && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    private static JobRejection Invalid(JobField field, string problem) => new(FailureReasons.InvalidRequest, field, problem);
}
