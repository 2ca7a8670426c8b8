namespace LoRAQueue.Core.Residency;

/// <summary>
/// One residency tier of a worker (loaded in the engine; the host cache): what it holds, in bytes against a budget, in
/// least-recently-used order. Making room evicts the least recently used adapters, but never one that is pinned — a
/// running job holds a pin for as long as it runs — or that the current placement needs. An adapter that cannot fit
/// without evicting those is refused, and nothing is evicted for it. Not thread-safe: the owner serialises calls.
/// </summary>
public sealed class ResidencyBudget<TKey> where TKey : notnull
{
    private sealed class Entry(TKey key, long bytes)
    {
        public TKey Key { get; } = key;
        public long Bytes { get; } = bytes;
        public int Pins { get; set; }
        public LinkedListNode<Entry>? Node { get; set; }
    }

    private readonly Dictionary<TKey, Entry> _entries = [];
    private readonly LinkedList<Entry> _recency = []; // most recently used first
    private HashSet<TKey> _needed = [];

    public ResidencyBudget(long budgetBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(budgetBytes);
        BudgetBytes = budgetBytes;
    }

    public long BudgetBytes { get; }
    public long UsedBytes { get; private set; }
    public int Count => _entries.Count;

    public bool Contains(TKey key) => _entries.ContainsKey(key);

    /// <summary>Held keys, most recently used first.</summary>
    public IEnumerable<TKey> Keys => _recency.Select(e => e.Key);

    /// <summary>Admits <paramref name="key"/> (<paramref name="bytes"/> long), evicting least recently used adapters that are
    /// neither pinned nor needed until it fits; <paramref name="evicted"/> lists them, for the caller to free. False, with
    /// nothing evicted, when it cannot fit. Admitting a held key only marks it used.</summary>
    public bool TryAdmit(TKey key, long bytes, out IReadOnlyList<TKey> evicted)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        evicted = [];
        if (_entries.TryGetValue(key, out var held))
        {
            Touch(held);
            return true;
        }
        long free = BudgetBytes - UsedBytes;
        var victims = new List<Entry>();
        for (var node = _recency.Last; node is not null && free < bytes; node = node.Previous)
        {
            if (node.Value.Pins > 0 || _needed.Contains(node.Value.Key)) continue;
            victims.Add(node.Value);
            free += node.Value.Bytes;
        }
        if (free < bytes) return false;
        foreach (var victim in victims) Remove(victim);
        var entry = new Entry(key, bytes);
        entry.Node = _recency.AddFirst(entry);
        _entries[key] = entry;
        UsedBytes += bytes;
        evicted = [.. victims.Select(v => v.Key)];
        return true;
    }

    /// <summary>Evicts the least recently used adapter that is neither pinned nor needed (to make a contiguous range where
    /// the bytes alone would fit); false when every adapter held is pinned or needed.</summary>
    public bool TryEvictOne(out TKey? evicted)
    {
        for (var node = _recency.Last; node is not null; node = node.Previous)
        {
            if (node.Value.Pins > 0 || _needed.Contains(node.Value.Key)) continue;
            evicted = node.Value.Key;
            Remove(node.Value);
            return true;
        }
        evicted = default;
        return false;
    }

    /// <summary>Marks <paramref name="key"/> used now (it moves to the front of the eviction order).</summary>
    public void Touch(TKey key)
    {
        if (_entries.TryGetValue(key, out var entry)) Touch(entry);
    }

    /// <summary>Keeps <paramref name="key"/> from eviction until the returned handle is disposed (pins count).</summary>
    public IDisposable Pin(TKey key)
    {
        if (!_entries.TryGetValue(key, out var entry)) throw new KeyNotFoundException($"'{key}' is not held, so it cannot be pinned");
        entry.Pins++;
        Touch(entry);
        return new Unpin(this, entry);
    }

    /// <summary>The adapters the current placement gives this worker: kept from eviction while they are in the set.</summary>
    public void SetNeeded(IEnumerable<TKey> keys) => _needed = [.. keys];

    /// <summary>Drops <paramref name="key"/> whatever its pins (its bytes are gone: corrupted, or the tier was cleared).</summary>
    public bool Remove(TKey key)
    {
        if (!_entries.TryGetValue(key, out var entry)) return false;
        Remove(entry);
        return true;
    }

    private void Touch(Entry entry)
    {
        _recency.Remove(entry.Node!);
        _recency.AddFirst(entry.Node!);
    }

    private void Remove(Entry entry)
    {
        _entries.Remove(entry.Key);
        _recency.Remove(entry.Node!);
        UsedBytes -= entry.Bytes;
    }

    private sealed class Unpin(ResidencyBudget<TKey> owner, Entry entry) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            if (owner._entries.TryGetValue(entry.Key, out var current) && ReferenceEquals(current, entry)) entry.Pins--;
        }
    }
}
