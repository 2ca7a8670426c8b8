using LoRAQueue.Contracts;

namespace LoRAQueue.InProcess;

/// <summary>Adapter pulls by source ("peer", "store"): how many, their bytes and their total time. Thread-safe.</summary>
public sealed class AdapterPullTally
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, (int Count, long Bytes, double Ms)> _bySource = new(StringComparer.Ordinal);

    public void Add(AdapterPulled pull)
    {
        ArgumentNullException.ThrowIfNull(pull);
        lock (_lock)
        {
            var (count, bytes, ms) = _bySource.GetValueOrDefault(pull.Source);
            _bySource[pull.Source] = (count + 1, bytes + pull.Bytes, ms + pull.Ms);
        }
    }

    /// <summary>One row per source seen, peers first.</summary>
    public IReadOnlyList<AdapterPullRow> Rows()
    {
        lock (_lock)
            return [.. _bySource.OrderBy(p => p.Key == "peer" ? 0 : 1).Select(p => new AdapterPullRow(p.Key, p.Value.Count, p.Value.Bytes, p.Value.Ms))];
    }
}

/// <summary>Pulls from one source: count, bytes and total milliseconds.</summary>
public sealed record AdapterPullRow(string Source, int Count, long Bytes, double TotalMs);
