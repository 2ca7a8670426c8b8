using LoRAQueue.Cli.Demo;
using LoRAQueue.Core;
using LoRAQueue.Engine;
using LoRAQueue.Worker;

namespace LoRAQueue.Cli.Bench;

/// <summary>
/// A worker's operating points measured with the worker's own code: OP[0] by <see cref="EngineCalibration"/> (a full
/// batch of base-model requests, as at worker start-up), OP[r] by an <see cref="OperatingPointEstimator"/> fed the
/// time per output token of a full batch of requests with a rank-r adapter — the single-rank sweep LoRAServe profiles
/// offline, here done live before each run (a production worker gets the same samples from its jobs). All workers
/// calibrate at once, so each point is measured under the CPU sharing the run will see. An unmeasured sweep first
/// warms every engine up (JIT, buffers, caches) the same way in every run: without it the first rank measured pays
/// for the compilation, and since the estimator caps every rank by the smaller ones, that one slow point flattens them all.
/// </summary>
internal static class OperatingPointCalibration
{
    public const int OutputTokens = 32;
    private const string Prompt = "Calibration: the quick brown fox jumps over the lazy dog.";

    public static async Task<IReadOnlyDictionary<int, double>> MeasureAsync(BenchWorker worker, DemoAssets assets, CancellationToken ct)
    {
        var runtime = worker.Node.Runtime;
        int capacity = worker.Node.Settings.MaxSequences;
        var prompt = runtime.Tokenizer.Encode(Prompt);
        var buckets = assets.Adapters.Select(a => RankBuckets.Default.BucketOf(a.Rank)).Distinct().Order().ToList();
        await EngineCalibration.MeasureBaseDecodeTokensPerSecondAsync(runtime.Engine, prompt, capacity, OutputTokens, ct);
        foreach (int bucket in buckets) await SweepAsync(worker, assets, bucket, prompt, (_, _) => { }, ct);

        double baseTps = await EngineCalibration.MeasureBaseDecodeTokensPerSecondAsync(runtime.Engine, prompt, capacity, OutputTokens, ct);
        var estimator = new OperatingPointEstimator(baseTps, capacity, buckets);
        foreach (int bucket in buckets)
            await SweepAsync(worker, assets, bucket, prompt, (tpot, inEngine) => estimator.Observe(bucket, tpot, inEngine), ct);
        return estimator.Points();
    }

    /// <summary>A full batch of identical greedy requests with an adapter of the bucket's rank; each result's time per
    /// output token goes to <paramref name="observe"/> with the jobs in the engine when it finished, itself included (as
    /// the worker's consumer reports it).</summary>
    private static async Task SweepAsync(BenchWorker worker, DemoAssets assets, int bucket, IReadOnlyList<int> prompt,
                                         Action<TimeSpan, int> observe, CancellationToken ct)
    {
        var adapter = assets.Adapters.First(a => RankBuckets.Default.BucketOf(a.Rank) == bucket);
        var lookup = await worker.Node.Adapters.EnsureLoadedAsync(adapter.Id, ct);
        if (!lookup.Loaded) throw new InvalidOperationException($"calibration of {worker.Id}: {lookup.Problem}");
        int capacity = worker.Node.Settings.MaxSequences;
        int inEngine = capacity;
        await Task.WhenAll(Enumerable.Range(0, capacity).Select(async i =>
        {
            var result = await worker.Node.Runtime.Engine.Submit(new GenerationRequest($"calibration-{bucket}-{i}-{Guid.NewGuid():N}", prompt,
                adapter.Id, MaxTokens: OutputTokens), ct);
            observe(result.Timings.TimePerOutputToken, Interlocked.Decrement(ref inEngine) + 1);
        }));
        worker.Node.Adapters.Evict(adapter.Id); // the placement decides what stays resident
    }
}
