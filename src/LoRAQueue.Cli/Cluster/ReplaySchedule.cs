using LoRAQueue.Workloads;

namespace LoRAQueue.Cli.Cluster;

/// <summary>One request of the replay: when it is due (seconds after the replay starts), which gateway gets it, and what it asks.</summary>
internal sealed record ReplayItem(int Index, double DueSeconds, int Gateway, string? AdapterId, int Rank, int InputTokens, int OutputTokens);

/// <summary>The replay: a trace's requests at their arrival times divided by the rate scale, round robin over the gateways, lengths
/// clamped to what the model's context holds (the twin gets the same list).</summary>
internal sealed record ReplaySchedule(IReadOnlyList<ReplayItem> Items, int Clamped, double DurationSeconds)
{
    /// <param name="duration">Replay only requests due within this many seconds (after scaling); null: all.</param>
    /// <param name="maxContext">The model's context: a request's prompt + output must fit it (and the prompt at least 2 tokens, BOS + one).</param>
    public static ReplaySchedule Build(IReadOnlyList<WorkloadRequest> requests, double rateScale, int gateways, double? duration, int maxContext,
                                       int maxOutputTokens = 4096)
    {
        if (!(rateScale > 0) || !double.IsFinite(rateScale)) throw new ArgumentOutOfRangeException(nameof(rateScale), rateScale, "the rate scale must be a positive number");
        if (gateways < 1) throw new ArgumentOutOfRangeException(nameof(gateways), gateways, "at least one gateway");
        if (maxContext < 4) throw new ArgumentOutOfRangeException(nameof(maxContext), maxContext, "the context must hold at least 4 tokens");
        var items = new List<ReplayItem>();
        int clamped = 0;
        foreach (var request in requests.OrderBy(r => r.Arrival))
        {
            double due = request.Arrival.TotalSeconds / rateScale;
            if (duration is { } d && due > d) break;
            int output = Math.Clamp(request.OutputTokens, 1, Math.Min(maxOutputTokens, maxContext - 2));
            int input = Math.Clamp(request.InputTokens, 2, maxContext - output);
            if (output != request.OutputTokens || input != request.InputTokens) clamped++;
            items.Add(new ReplayItem(items.Count, due, items.Count % gateways, request.AdapterId, request.Rank ?? 0, input, output));
        }
        double span = items.Count == 0 ? 0 : items[^1].DueSeconds;
        return new ReplaySchedule(items, clamped, duration ?? span);
    }

    /// <summary>Requests per second offered over the replay's span.</summary>
    public double OfferedRps => Items.Count < 2 || Items[^1].DueSeconds <= 0 ? Items.Count : Items.Count / Items[^1].DueSeconds;
}

/// <summary>Prompts of an exact token count for a tokenizer: a repeated word, adjusted until the count (BOS included) is the
/// one asked for. Cached by length.</summary>
internal sealed class PromptMaker(Func<string, int> countTokens)
{
    private const string Unit = " the";
    private readonly Dictionary<int, string> _cache = [];

    public string Make(int tokens)
    {
        if (_cache.TryGetValue(tokens, out var cached)) return cached;
        int words = Math.Max(1, tokens - 1);
        string prompt = Build(words);
        int count = countTokens(prompt);
        for (int i = 0; i < 64 && count != tokens; i++)
        {
            int step = tokens - count;
            int next = Math.Max(1, words + (Math.Abs(step) > 1 ? step / 2 + Math.Sign(step) : step));
            if (next == words) break;
            words = next;
            prompt = Build(words);
            count = countTokens(prompt);
        }
        return _cache[tokens] = prompt;
    }

    private static string Build(int words) => "job" + string.Concat(Enumerable.Repeat(Unit, words - 1));
}
