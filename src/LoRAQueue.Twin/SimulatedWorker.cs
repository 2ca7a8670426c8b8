namespace LoRAQueue.Twin;

/// <summary>One worker of the twin: the rank queues it consumes (with the worker's prefetch per queue), the adapters resident
/// in its engine (least recently used unloaded beyond the limit, never one a job is using), loads in progress, and its engine.</summary>
internal sealed class SimulatedWorker(string id, SimulatedEngine engine, int maxResident)
{
    private readonly LinkedList<string> _recency = []; // most recent first
    private readonly Dictionary<string, LinkedListNode<string>> _resident = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _inUse = new(StringComparer.Ordinal);

    public string Id { get; } = id;
    public SimulatedEngine Engine { get; } = engine;
    /// <summary>Rank buckets consumed; 0 = lora-base.</summary>
    public HashSet<int> Queues { get; set; } = [];
    public Dictionary<int, int> Delivered { get; } = [];
    /// <summary>Prefetch per queue when the placement sets it (weighted prefetch); otherwise the fleet's.</summary>
    public Dictionary<int, int> Prefetch { get; set; } = [];
    /// <summary>Jobs delivered but not yet in the engine (adapter loading, pick-up).</summary>
    public int Arriving { get; set; }
    /// <summary>Jobs this worker holds that its engine is not running yet.</summary>
    public int Backlog => Arriving + Engine.Waiting;
    public Dictionary<string, List<Action>> Loading { get; } = new(StringComparer.Ordinal);
    public bool Stepping { get; set; }
    /// <summary>The end of a step, made once per worker (a step is the twin's most frequent event).</summary>
    public Action? StepDone { get; set; }
    public Action<TwinJob>? JobDone { get; set; }
    public double BusySeconds { get; set; }
    public long Epoch { get; set; }

    public IReadOnlyCollection<string> Resident => _resident.Keys;
    public bool IsResident(string adapter) => _resident.ContainsKey(adapter);

    public void Touch(string adapter)
    {
        if (!_resident.TryGetValue(adapter, out var node)) return;
        _recency.Remove(node);
        _recency.AddFirst(node);
    }

    public void MakeResident(string adapter)
    {
        if (_resident.ContainsKey(adapter)) { Touch(adapter); return; }
        _resident[adapter] = _recency.AddFirst(adapter);
        for (var node = _recency.Last; _resident.Count > maxResident && node is not null;)
        {
            var previous = node.Previous;
            if (!_inUse.ContainsKey(node.Value)) Evict(node.Value);
            node = previous;
        }
    }

    public void Evict(string adapter)
    {
        if (_inUse.ContainsKey(adapter) || !_resident.Remove(adapter, out var node)) return;
        _recency.Remove(node);
    }

    public void Use(string adapter) => _inUse[adapter] = _inUse.GetValueOrDefault(adapter) + 1;

    public void Release(string adapter)
    {
        if (--_inUse[adapter] == 0) _inUse.Remove(adapter);
    }
}
