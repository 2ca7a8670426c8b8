using LoRAQueue.Core.Placement;

namespace LoRAQueue.Core.Tests.Placement;

public enum MemoryRegime
{
    /// <summary>Every worker can hold every adapter.</summary>
    Ample,
    /// <summary>The fleet holds everything about twice over; single workers cannot.</summary>
    Moderate,
    /// <summary>Some adapters may fit nowhere.</summary>
    Tight,
}

/// <summary>
/// Seeded random snapshots shaped like the field's workloads: Zipf-like popularity (exponent 1–1.8), ranks from
/// {8, 16, 32, 64, 128} with a few odd ones, some adapters without demand, sometimes base-model demand; operating
/// points from a t0 + c·r cost per token, per worker speed factors when heterogeneous, some points missing.
/// </summary>
public sealed class SnapshotGenerator(int seed)
{
    private static readonly int[] CommonRanks = [8, 16, 32, 64, 128];
    private static readonly int[] OddRanks = [4, 12, 100, 256];
    private readonly Random _random = new(seed);

    public int MaxWorkers { get; init; } = 12;
    public int MaxAdapters { get; init; } = 60;
    public bool? Homogeneous { get; init; }
    public MemoryRegime? Memory { get; init; }
    public bool AllowMissingPoints { get; init; } = true;

    public LoadSnapshot Next() => Next(out _);

    public LoadSnapshot Next(out MemoryRegime memory)
    {
        int workers = _random.Next(1, MaxWorkers + 1);
        int adapterCount = _random.Next(0, MaxAdapters + 1);
        bool homogeneous = Homogeneous ?? _random.NextDouble() < 0.5;
        memory = Memory ?? (MemoryRegime)_random.Next(3);

        var adapters = new List<AdapterDemand>();
        double exponent = 1 + 0.8 * _random.NextDouble();
        var order = Enumerable.Range(0, adapterCount).OrderBy(_ => _random.Next()).ToArray(); // popularity ≠ rank
        for (int i = 0; i < adapterCount; i++)
        {
            int rank = _random.NextDouble() < 0.08 ? OddRanks[_random.Next(OddRanks.Length)] : CommonRanks[_random.Next(CommonRanks.Length)];
            double demand = _random.NextDouble() < 0.1 ? 0 : 1 / Math.Pow(order[i] + 1, exponent);
            long size = (long)(rank * 2_000_000 * (0.8 + 0.4 * _random.NextDouble()));
            adapters.Add(new AdapterDemand { Id = $"a{i:D3}", Rank = rank, SizeBytes = size, DemandTps = demand });
        }
        if (_random.NextDouble() < 0.3) adapters.Add(new AdapterDemand { Id = null, Rank = 0, DemandTps = 0.5 * _random.NextDouble() });

        // Scale demand so the fleet is 30–150 % busy at its rank-16 operating point.
        var profile = RandomProfile();
        if (homogeneous && AllowMissingPoints && _random.NextDouble() < 0.3) profile = WithSomeMissing(profile);
        double capacity = workers * new OperatingPointCurve(profile).At(16);
        double totalDemand = adapters.Sum(a => a.DemandTps);
        double scale = totalDemand > 0 ? (0.3 + 1.2 * _random.NextDouble()) * capacity / totalDemand : 1;
        adapters = [.. adapters.Select(a => a with { DemandTps = Math.Round(a.DemandTps * scale, 3) })];

        long totalBytes = adapters.Sum(a => a.SizeBytes);
        long largest = adapters.Count > 0 ? adapters.Max(a => a.SizeBytes) : 0;
        var workerStates = new List<WorkerState>();
        for (int w = 0; w < workers; w++)
        {
            var points = homogeneous ? profile : Scaled(RandomProfile(), 0.5 + 1.5 * _random.NextDouble());
            if (!homogeneous && AllowMissingPoints && _random.NextDouble() < 0.3) points = WithSomeMissing(points);
            long bytes = memory switch
            {
                MemoryRegime.Ample => totalBytes + 1,
                MemoryRegime.Moderate => Math.Max(largest, (long)(2.0 * totalBytes / workers)) + largest,
                _ => (long)(largest * (0.6 + 2 * _random.NextDouble())),
            };
            workerStates.Add(new WorkerState { Id = $"w{w:D2}", MemoryBytes = bytes, OperatingPoints = points });
        }
        return new LoadSnapshot { Workers = workerStates, Adapters = adapters };
    }

    /// <summary>The same snapshot with every adapter's demand scaled by a random factor in [1 − change, 1 + change].</summary>
    public LoadSnapshot Perturb(LoadSnapshot snapshot, double change) => snapshot with
    {
        Adapters = [.. snapshot.Adapters.Select(a => a with { DemandTps = a.DemandTps * (1 - change + 2 * change * _random.NextDouble()) })],
    };

    /// <summary>The same snapshot with workers and adapters listed in another order.</summary>
    public LoadSnapshot Shuffle(LoadSnapshot snapshot) => snapshot with
    {
        Workers = [.. snapshot.Workers.OrderBy(_ => _random.Next())],
        Adapters = [.. snapshot.Adapters.OrderBy(_ => _random.Next())],
    };

    private Dictionary<int, double> RandomProfile()
    {
        double t0 = 1.0 / (1500 + 1500 * _random.NextDouble()); // seconds per token at rank 0
        double perRank = t0 * (0.001 + 0.006 * _random.NextDouble());
        return CommonRanks.ToDictionary(r => r, r => Math.Round(1 / (t0 + perRank * r), 1));
    }

    private static Dictionary<int, double> Scaled(Dictionary<int, double> points, double factor) =>
        points.ToDictionary(p => p.Key, p => Math.Round(p.Value * factor, 1));

    private Dictionary<int, double> WithSomeMissing(Dictionary<int, double> points)
    {
        var kept = points.Where(_ => _random.NextDouble() < 0.6).ToDictionary();
        if (kept.Count == 0) { int rank = CommonRanks[_random.Next(CommonRanks.Length)]; kept[rank] = points[rank]; }
        return kept;
    }
}
