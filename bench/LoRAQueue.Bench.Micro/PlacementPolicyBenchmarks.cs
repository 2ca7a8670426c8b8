using BenchmarkDotNet.Attributes;
using LoRAQueue.Core.Placement;

namespace LoRAQueue.Bench.Micro;

/// <summary>
/// One placement decision on a 32-worker fleet with 500 adapters of ranks 8…128 and Zipf-like demand: what the
/// scheduler computes every time drift is detected. With a previous plan the policy also relabels workers to move
/// as few adapters as possible.
/// </summary>
[MemoryDiagnoser]
public class PlacementPolicyBenchmarks
{
    private const int Workers = 32, AdapterCount = 500;
    private LoadSnapshot _snapshot = null!;
    private PlacementPlan _previous = null!;
    private IPlacementPolicy _policy = null!;

    [Params("loraserve", "replicate-all")]
    public string Policy { get; set; } = "loraserve";

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(7);
        int[] ranks = [8, 16, 32, 64, 128];
        // Operating points fall with rank, as calibration measures them.
        var points = ranks.Prepend(0).ToDictionary(r => r, r => 4000.0 / (1 + r / 64.0));
        _snapshot = new LoadSnapshot
        {
            Workers = [.. Enumerable.Range(1, Workers).Select(i => new WorkerState { Id = $"w{i}", MemoryBytes = 8L << 30, OperatingPoints = points })],
            Adapters = [.. Enumerable.Range(1, AdapterCount).Select(i => new AdapterDemand
            {
                Id = $"a{i}", Rank = ranks[rng.Next(ranks.Length)], SizeBytes = 16L << 20, DemandTps = 20_000.0 / Math.Pow(i, 1.1),
            })],
        };
        _policy = PlacementPolicies.Create(Policy);
        _previous = _policy.Plan(_snapshot, previous: null);
    }

    [Benchmark(Baseline = true)]
    public PlacementPlan FromScratch() => _policy.Plan(_snapshot, previous: null);

    [Benchmark]
    public PlacementPlan AgainstPrevious() => _policy.Plan(_snapshot, _previous);
}
