using System.Collections.Concurrent;
using LoRAQueue.Core;
using LoRAQueue.Engine;
using LoRAQueue.InProcess;
using LoRAQueue.Worker;

namespace LoRAQueue.Bench;

/// <summary>
/// A worker's operating points measured with the worker's own code: OP[0] by <see cref="EngineCalibration"/> (a full
/// batch of base-model requests, as at worker start-up), OP[r] by an <see cref="OperatingPointEstimator"/> fed the
/// time per output token of a full batch of requests with a rank-r adapter — the single-rank sweep LoRAServe profiles
/// offline, here done live before each run (a production worker gets the same samples from its jobs). Workers
/// calibrate one at a time (see <see cref="PlacementBenchmark"/>). An unmeasured sweep first
/// warms every engine up (JIT, buffers, caches) the same way in every run: without it the first rank measured pays
/// for the compilation, and since the estimator caps every rank by the smaller ones, that one slow point flattens them all.
/// </summary>
public static class OperatingPointCalibration
{
    /// <summary>Tokens each calibration request decodes. Long on purpose: EngineCalibration's OP[0] is output tokens over
    /// wall time, prefill included, while OP[r] is capacity over the decode-only time per token, and OP[0] caps every
    /// rank. With the worker's 16 (or the 32 used before) the prefill made OP[0] ~40 % low, below every rank's decode
    /// rate, so all points came out equal to OP[0]; over 256 tokens the prefill is a few per cent.</summary>
    public const int OutputTokens = 256;
    private const string Prompt = "Calibration: the quick brown fox jumps over the lazy dog.";

    public static async Task<OperatingPointMeasurement> MeasureAsync(FleetWorker worker, DemoAssets assets, CancellationToken ct)
    {
        var runtime = worker.Node.Runtime;
        int capacity = worker.Node.Settings.MaxSequences;
        var prompt = runtime.Tokenizer.Encode(Prompt);
        var buckets = assets.Adapters.Select(a => RankBuckets.Default.BucketOf(a.Rank)).Distinct().Order().ToList();
        await EngineCalibration.MeasureBaseDecodeTokensPerSecondAsync(runtime.Engine, prompt, capacity, OutputTokens, ct);
        foreach (int bucket in buckets) await SweepAsync(worker, assets, bucket, prompt, (_, _) => { }, ct);

        double baseTps = await EngineCalibration.MeasureBaseDecodeTokensPerSecondAsync(runtime.Engine, prompt, capacity, OutputTokens, ct);
        var estimator = new OperatingPointEstimator(baseTps, capacity, buckets);
        var decode = new SortedDictionary<int, double>();
        foreach (int bucket in buckets.Prepend(0))
        {
            var tpots = new ConcurrentBag<double>(); // results complete on several threads at once
            await SweepAsync(worker, assets, bucket, prompt, (tpot, inEngine) =>
            {
                tpots.Add(tpot.TotalSeconds);
                if (bucket > 0) estimator.Observe(bucket, tpot, inEngine);
            }, ct);
            // A request that stopped after one token has no time per output token (0): not a sample.
            var samples = tpots.Where(t => t > 0).ToList();
            if (samples.Count > 0) decode[bucket] = capacity / samples.Average();
        }
        return new OperatingPointMeasurement(estimator.Points(), decode);
    }

    /// <summary>A full batch of identical greedy requests with an adapter of the bucket's rank (bucket 0: none); each result's time per
    /// output token goes to <paramref name="observe"/> with the jobs in the engine when it finished, itself included (as
    /// the worker's consumer reports it).</summary>
    private static async Task SweepAsync(FleetWorker worker, DemoAssets assets, int bucket, IReadOnlyList<int> prompt,
                                         Action<TimeSpan, int> observe, CancellationToken ct)
    {
        var adapter = bucket == 0 ? null : assets.Adapters.First(a => RankBuckets.Default.BucketOf(a.Rank) == bucket);
        if (adapter is not null && await worker.Node.Adapters.EnsureLoadedAsync(adapter.Id, ct) is { Loaded: false } lookup)
            throw new InvalidOperationException($"calibration of {worker.Id}: {lookup.Problem}");
        int capacity = worker.Node.Settings.MaxSequences;
        int inEngine = capacity;
        await Task.WhenAll(Enumerable.Range(0, capacity).Select(async i =>
        {
            var result = await worker.Node.Runtime.Engine.Submit(new GenerationRequest($"calibration-{bucket}-{i}-{Guid.NewGuid():N}", prompt,
                adapter?.Id, MaxTokens: OutputTokens), ct);
            observe(result.Timings.TimePerOutputToken, Interlocked.Decrement(ref inEngine) + 1);
        }));
        if (adapter is not null) worker.Node.Adapters.Evict(adapter.Id); // the placement decides what stays resident
    }
}

/// <summary>A worker's calibration: <see cref="Points"/> as its <see cref="OperatingPointEstimator"/> computes them (what the
/// policy plans from) and <see cref="DecodeTps"/>, batch capacity ÷ mean time per output token of the same full batches
/// (0 = no adapter), uncapped: the decode rate each rank actually sustained.</summary>
public sealed record OperatingPointMeasurement(IReadOnlyDictionary<int, double> Points, IReadOnlyDictionary<int, double> DecodeTps);
