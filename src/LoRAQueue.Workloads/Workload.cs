namespace LoRAQueue.Workloads;

/// <summary>
/// One request of a workload: when it arrives (from the workload's first request), its prompt and output lengths in
/// tokens, and the adapter it asks for with that adapter's LoRA rank (both null for the base model, or where a trace
/// names no adapters).
/// </summary>
public sealed record WorkloadRequest(TimeSpan Arrival, int InputTokens, int OutputTokens, string? AdapterId = null, int? Rank = null);

/// <summary>An adapter a workload names, with its rank (null where the source does not say).</summary>
public sealed record WorkloadAdapter(string Id, int? Rank);

/// <summary>The request-trace formats <see cref="TraceReader"/> reads.</summary>
public enum TraceFormat
{
    /// <summary>LoRAServe / S-LoRA: <c>req_id,model_dir,adapter_dir,prompt_len,output_len,req_time</c>, the rank in the adapter's name.</summary>
    LoRAServe,
    /// <summary>Azure LLM inference trace: <c>TIMESTAMP,ContextTokens,GeneratedTokens</c>, no adapters.</summary>
    Azure,
    /// <summary>Mooncake JSON lines: <c>{"timestamp": ms, "input_length": n, "output_length": n, …}</c>, no adapters.</summary>
    Mooncake,
    /// <summary>LoRAQueue's own job history export (<c>loraqueue jobs export</c>): <c>submitted_at,adapter_id,prompt_tokens,output_tokens</c>, maybe <c>rank_bucket</c>.</summary>
    JobHistory,
}

public static class TraceFormats
{
    /// <summary>The names the command line takes (<c>--format</c>), one per format.</summary>
    public static readonly IReadOnlyDictionary<string, TraceFormat> ByName = new Dictionary<string, TraceFormat>(StringComparer.OrdinalIgnoreCase)
    {
        ["loraserve"] = TraceFormat.LoRAServe,
        ["azure"] = TraceFormat.Azure,
        ["mooncake"] = TraceFormat.Mooncake,
        ["jobs"] = TraceFormat.JobHistory,
    };

    public static string Name(this TraceFormat format) => ByName.First(kv => kv.Value == format).Key;

    public static string Describe(this TraceFormat format) => format switch
    {
        TraceFormat.LoRAServe => "LoRAServe CSV",
        TraceFormat.Azure => "Azure LLM inference CSV",
        TraceFormat.Mooncake => "Mooncake JSON lines",
        TraceFormat.JobHistory => "LoRAQueue job history CSV",
        _ => format.ToString(),
    };
}

/// <summary>
/// Requests sorted by arrival (ties keep their order) and shifted so the first arrives at zero, a line saying where
/// they came from, and the adapters they name (ordered by id). <see cref="Format"/> is the trace format it was read
/// from, null when generated.
/// </summary>
public sealed class Workload
{
    public Workload(string description, IEnumerable<WorkloadRequest> requests, TraceFormat? format = null)
    {
        ArgumentNullException.ThrowIfNull(description);
        var sorted = requests.OrderBy(r => r.Arrival).ToList();
        var first = sorted.Count == 0 ? TimeSpan.Zero : sorted[0].Arrival;
        var ranks = new Dictionary<string, int?>(StringComparer.Ordinal);
        for (int i = 0; i < sorted.Count; i++)
        {
            var r = sorted[i];
            if (r.InputTokens < 0 || r.OutputTokens < 0)
                throw new ArgumentException($"request {i} has a negative length ({r.InputTokens} input, {r.OutputTokens} output tokens)", nameof(requests));
            if (r.Rank is < 1) throw new ArgumentException($"request {i} has rank {r.Rank}: ranks are ≥ 1", nameof(requests));
            if (r.AdapterId is null && r.Rank is not null)
                throw new ArgumentException($"request {i} has rank {r.Rank} but no adapter", nameof(requests));
            if (r.AdapterId is { } id)
            {
                if (ranks.TryGetValue(id, out var known) && known != r.Rank)
                    throw new ArgumentException($"adapter '{id}' has rank {Show(r.Rank)} in one request and {Show(known)} in another", nameof(requests));
                ranks[id] = r.Rank;
            }
            if (first != TimeSpan.Zero) sorted[i] = r with { Arrival = r.Arrival - first };
        }
        Description = description;
        Requests = sorted;
        Adapters = ranks.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => new WorkloadAdapter(kv.Key, kv.Value)).ToList();
        Format = format;

        static string Show(int? rank) => rank?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(none)";
    }

    public string Description { get; }
    public IReadOnlyList<WorkloadRequest> Requests { get; }
    public IReadOnlyList<WorkloadAdapter> Adapters { get; }
    public TraceFormat? Format { get; }

    /// <summary>From the first request's arrival to the last's.</summary>
    public TimeSpan Duration => Requests.Count == 0 ? TimeSpan.Zero : Requests[^1].Arrival;

    /// <summary>Whether any request names an adapter (LoRAServe and job history traces do; Azure and Mooncake do not).</summary>
    public bool NamesAdapters => Adapters.Count > 0;

    public Workload With(string description, IEnumerable<WorkloadRequest> requests) => new(description, requests, Format);
}
