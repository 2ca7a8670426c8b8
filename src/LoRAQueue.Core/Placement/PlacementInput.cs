namespace LoRAQueue.Core.Placement;

/// <summary>One thing to place: an adapter, or the base model (<see cref="Id"/> null, bucket 0, no bytes).</summary>
internal sealed record PlacementEntry(string? Id, int Rank, int Bucket, long SizeBytes, double DemandTps)
{
    public bool IsBase => Id is null;
    public bool HasDemand => DemandTps > 0;
    public override string ToString() => Id ?? "(base)";
}

/// <summary>
/// A validated snapshot in a canonical order — workers by id, entries by demand (descending) then id — so that a
/// policy's result does not depend on the order a heartbeat store happened to list things in.
/// </summary>
internal sealed class PlacementInput
{
    public required RankBuckets Buckets { get; init; }
    public required IReadOnlyList<WorkerState> Workers { get; init; }
    public required IReadOnlyList<OperatingPointCurve> Curves { get; init; }
    public required IReadOnlyList<PlacementEntry> Entries { get; init; }

    /// <summary>Buckets (0 = base) that carry demand: only these set a worker's operating point.</summary>
    public required IReadOnlySet<int> DemandBuckets { get; init; }

    /// <summary>0 (base), every configured bucket and every adapter's bucket, ascending: each needs a consumer.</summary>
    public required IReadOnlyList<int> KnownBuckets { get; init; }

    public IReadOnlyDictionary<string, long> SizesById =>
        Entries.Where(e => !e.IsBase).ToDictionary(e => e.Id!, e => e.SizeBytes, StringComparer.Ordinal);

    public static PlacementInput From(LoadSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        if (snapshot.Workers is null || snapshot.Workers.Count == 0) throw new PlacementInputException("workers: the snapshot has no workers");
        if (snapshot.Adapters is null) throw new PlacementInputException("adapters: missing");

        RankBuckets buckets;
        try { buckets = snapshot.Buckets(); }
        catch (ArgumentException e) { throw new PlacementInputException($"rank_buckets: {e.Message}", e); }

        var workers = snapshot.Workers.OrderBy(w => w?.Id, StringComparer.Ordinal).ToList();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var w in workers)
        {
            if (w is null || string.IsNullOrWhiteSpace(w.Id)) throw new PlacementInputException("workers: a worker has no id");
            if (!ids.Add(w.Id)) throw new PlacementInputException($"workers: id '{w.Id}' appears twice");
            if (w.MemoryBytes < 0) throw new PlacementInputException($"worker '{w.Id}': memory_bytes is negative ({w.MemoryBytes})");
            if (w.OperatingPoints is null) throw new PlacementInputException($"worker '{w.Id}': operating_points missing");
        }
        var curves = workers.Select(w => new OperatingPointCurve(w.OperatingPoints, w.Id)).ToList();

        var entries = new List<PlacementEntry>();
        var adapterIds = new HashSet<string>(StringComparer.Ordinal);
        bool sawBase = false;
        foreach (var a in snapshot.Adapters)
        {
            if (a is null) throw new PlacementInputException("adapters: null entry");
            string name = a.Id ?? "(base)";
            if (!double.IsFinite(a.DemandTps) || a.DemandTps < 0)
                throw new PlacementInputException($"adapter '{name}': demand_tps must be finite and ≥ 0 (got {a.DemandTps})");
            if (a.IsBase)
            {
                if (sawBase) throw new PlacementInputException("adapters: more than one base-model entry (id null)");
                if (a.Rank != 0) throw new PlacementInputException($"adapter (base): the base-model entry (id null) must have rank 0 (got {a.Rank})");
                sawBase = true;
                entries.Add(new PlacementEntry(null, 0, 0, 0, a.DemandTps));
                continue;
            }
            if (a.Id!.Length == 0) throw new PlacementInputException("adapters: empty id (use null for the base model)");
            if (!adapterIds.Add(a.Id)) throw new PlacementInputException($"adapter '{a.Id}': appears twice");
            if (a.Rank <= 0) throw new PlacementInputException($"adapter '{a.Id}': rank must be positive (got {a.Rank}); the base model is id null");
            if (a.SizeBytes < 0) throw new PlacementInputException($"adapter '{a.Id}': size_bytes is negative ({a.SizeBytes})");
            int bucket;
            try { bucket = buckets.BucketOf(a.Rank); }
            catch (ArgumentOutOfRangeException e) { throw new PlacementInputException($"adapter '{a.Id}': {e.Message}", e); }
            entries.Add(new PlacementEntry(a.Id, a.Rank, bucket, a.SizeBytes, a.DemandTps));
        }
        entries.Sort(static (x, y) => y.DemandTps.CompareTo(x.DemandTps) is var c && c != 0 ? c
            : string.CompareOrdinal(x.Id, y.Id)); // null (base) sorts first

        return new PlacementInput
        {
            Buckets = buckets,
            Workers = workers,
            Curves = curves,
            Entries = entries,
            DemandBuckets = entries.Where(e => e.HasDemand).Select(e => e.Bucket).ToHashSet(),
            KnownBuckets = [.. new[] { 0 }.Concat(buckets.Boundaries).Concat(entries.Select(e => e.Bucket)).Distinct().Order()],
        };
    }

    public List<WorkerBin> NewBins() => [.. Workers.Select((w, i) => new WorkerBin(w, Curves[i], DemandBuckets))];
}
