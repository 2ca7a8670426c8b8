using System.Diagnostics;
using System.Globalization;
using LoRAQueue.Contracts;
using LoRAQueue.Core;
using LoRAQueue.Core.Placement;
using LoRAQueue.Messaging;
using LoRAQueue.Formats;
using LoRAQueue.History;
using LoRAQueue.InProcess;
using LoRAQueue.Kernels;
using LoRAQueue.Worker;
using LoRAQueue.Workloads;

namespace LoRAQueue.Bench;

/// <summary>
/// `loraqueue bench placement`: loraserve vs replicate-all, each with the padded and the segmented multi-LoRA kernel.
/// Every run starts a fresh <see cref="InProcessFleet"/> sharing its rank queues (competing consumers), calibrates each worker's operating points
/// (<see cref="OperatingPointCalibration"/>), plans with the real policy from those points and the workload's demand,
/// applies the plan as workers apply placement commands (adapters preloaded, then exactly the plan's rank queues, see
/// <see cref="InProcessFleet.ApplyPlacementAsync"/>), replays the same seeded workload through JobPublisher and the rank queues, and drains.
/// </summary>
public static class PlacementBenchmark
{
    /// <summary>Memory offered to adapters per worker: far more than 15 adapters of the small model take, so memory never
    /// binds and the policies differ only in how they use ranks.</summary>
    public const long WorkerAdapterMemory = 1L << 30;
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromSeconds(10);

    public static string ThreadBudget(int maxSequences) => string.Create(CultureInfo.InvariantCulture,
        $"every worker's engine: one dedicated step thread, batch ≤ {maxSequences} sequences, kernels on the process's shared pool of {WorkerPool.Shared.ThreadCount} threads (a step finding the pool busy runs inline on its own thread); the same in every run, and runs never overlap");

    public static async Task<PlacementBenchReport> RunAsync(PlacementBenchOptions options, IProgress<string> status, CancellationToken ct)
    {
        if (options.Problem() is { } problem) throw new ArgumentException(problem);
        var wall = Stopwatch.StartNew();
        // A broken trace is reported before any model or adapter is generated.
        var trace = options.TracePath is { } path ? TraceReader.Read(path) : null;
        var assets = BenchAssets.Ensure(options, status);
        var workload = BenchWorkload.Generate(options, trace, assets.Adapters, ModelTokenizer.Load(assets.ModelPath));
        status.Report($"workload: {workload.Description}");
        status.Report($"fairness: {ThreadBudget(options.MaxSequences)}");
        var log = new CapturedLog();
        var runs = new List<RunResult>();
        int number = 0, total = PlacementBenchOptions.Kernels.Count * PlacementBenchOptions.Policies.Count;
        foreach (var kernel in PlacementBenchOptions.Kernels)
            foreach (var policy in PlacementBenchOptions.Policies)
            {
                var prefix = $"run {++number}/{total} {policy} × {kernel}:";
                var run = await RunOnceAsync(policy, kernel, options, assets, workload, log, m => status.Report($"{prefix} {m}"), ct);
                runs.Add(run);
                status.Report(string.Create(CultureInfo.InvariantCulture,
                    $"{prefix} {run.Completed}/{run.Submitted} completed, {run.OutputTokensPerS:F1} output tokens/s, TTFT p50 {run.TtftP50Ms:F0} ms, p95 {run.TtftP95Ms:F0} ms, p99 {run.TtftP99Ms:F0} ms{(run.Problem is null ? "" : $" — {run.Problem}")}"));
            }
        return new PlacementBenchReport(assets.ModelPath, workload.Description, options.Workers, workload.Rate, options.Duration.TotalSeconds,
            options.Seed, workload.Jobs.Count, options.MaxSequences, ThreadBudget(options.MaxSequences), runs,
            Math.Round(wall.Elapsed.TotalSeconds, 1), log.Count, log.Lines.Take(10).ToList());
    }

    private static async Task<RunResult> RunOnceAsync(string policy, string kernel, PlacementBenchOptions options, DemoAssets assets,
                                                      BenchWorkload workload, CapturedLog log, Action<string> status, CancellationToken ct)
    {
        var recorder = new RunRecorder();
        await using var pipeline = await StartFleetAsync(assets, options.Workers, kernel, options.MaxSequences, recorder, log, ct);
        status("calibrating operating points");
        // One worker at a time: calibrated together, identical workers came out up to 2× apart (whoever the shared kernel
        // pool favoured), and the plan followed the noise. Alone, each measures the same machine; sharing it during the
        // run scales every point alike, which leaves the plan unchanged.
        var measuredById = new Dictionary<string, OperatingPointMeasurement>();
        foreach (var worker in pipeline.Workers)
        {
            var measured = await OperatingPointCalibration.MeasureAsync(worker, assets, ct);
            measuredById[worker.Id] = measured;
            status(string.Create(CultureInfo.InvariantCulture, $"{worker.Id}: OP {Format(measured.Points)}; decode tok/s {Format(measured.DecodeTps)}"));
        }
        var pointsById = measuredById.ToDictionary(p => p.Key, p => p.Value.Points);

        var plan = PlacementPolicies.Create(policy).Plan(Snapshot(pipeline, pointsById, assets, workload), previous: null);
        await pipeline.ApplyPlacementAsync(Commands(pipeline, plan), ct);
        status(string.Join("; ", pipeline.Workers.Select(w => $"{w.Id}: {w.QueueList}")));
        CheckEveryBucketIsConsumed(pipeline, workload, assets);

        var (submitted, problem) = await ReplayAsync(pipeline, recorder, workload, options, status, ct);
        return RunResult.From(policy, kernel, assets, submitted, recorder, plan, measuredById, problem, pipeline.Pulls.Rows());
    }

    /// <summary>Workers as a benchmark run needs them: no queues until the plan is applied, every adapter may stay resident.</summary>
    private static async Task<InProcessFleet> StartFleetAsync(DemoAssets assets, int workers, string kernel, int maxSequences,
                                                              RunRecorder recorder, CapturedLog log, CancellationToken ct)
    {
        var registry = new InMemoryAdapterRegistry(AdapterValidator.ForModelDirectory(assets.AdapterStorePath, assets.ModelPath, RankBuckets.Default));
        foreach (var adapter in assets.Adapters) await registry.RegisterAsync(adapter.Id, BenchWorkload.Tenant, ct);
        var fleet = await InProcessFleet.StartAsync(new InProcessFleetOptions
        {
            Registry = registry, History = recorder, Log = log, ShareRankQueues = true, ModelPath = assets.ModelPath,
        }, ct);
        try
        {
            for (int i = 0; i < workers; i++)
            {
                await fleet.AddWorkerAsync(new WorkerSettings
                {
                    Id = $"worker-{i + 1}", ModelPath = assets.ModelPath, AdapterStorePath = assets.AdapterStorePath, RankQueues = [],
                    Kernel = kernel, MaxSequences = maxSequences, KvCacheMb = 32,
                    MaxResidentAdapters = Math.Max(32, assets.Adapters.Count), DrainTimeout = TimeSpan.FromSeconds(10),
                }, ct);
            }
            return fleet;
        }
        catch
        {
            await fleet.DisposeAsync();
            throw;
        }
    }

    /// <summary>The commands the scheduler would send for <paramref name="plan"/>: each worker's diff from what it holds now
    /// (no queues yet; the adapters calibration left resident), as PlacementStep computes it.</summary>
    private static List<PlacementCommand> Commands(InProcessFleet fleet, PlacementPlan plan)
    {
        var running = new PlacementPlan
        {
            Policy = "running",
            Workers = [.. fleet.Workers.Select(w => new WorkerPlacement { Id = w.Id, Adapters = [.. w.Node.Adapters.Resident.Order(StringComparer.Ordinal)] })],
        };
        var changes = PlacementStep.ChangesOf(plan, PlanDiff.Compute(running, plan), new Dictionary<string, long>());
        return [.. changes.Select(c => WorkerCommands.Of(c, epoch: 1, plan.Policy, DateTimeOffset.UtcNow))];
    }

    private static string Format(IReadOnlyDictionary<int, double> points) =>
        string.Join(" ", points.Select(p => string.Create(CultureInfo.InvariantCulture, $"r{p.Key}={p.Value:F0}")));

    /// <summary>The snapshot a scheduler would see: each worker's measured points, each adapter's size and offered demand.</summary>
    private static LoadSnapshot Snapshot(InProcessFleet pipeline, IReadOnlyDictionary<string, IReadOnlyDictionary<int, double>> points,
                                         DemoAssets assets, BenchWorkload workload)
    {
        var demand = workload.DemandTps();
        return new LoadSnapshot
        {
            Workers = [.. pipeline.Workers.Select(w => new WorkerState { Id = w.Id, MemoryBytes = WorkerAdapterMemory, OperatingPoints = points[w.Id] })],
            Adapters = [.. assets.Adapters.Select(a => new AdapterDemand
            {
                Id = a.Id, Rank = a.Rank, SizeBytes = BenchAssets.SizeBytes(assets, a.Id), DemandTps = demand.GetValueOrDefault(a.Id),
            })],
        };
    }

    /// <summary>A bucket with demand but no consumer would leave its jobs queued for ever: a broken plan, not a result.</summary>
    private static void CheckEveryBucketIsConsumed(InProcessFleet pipeline, BenchWorkload workload, DemoAssets assets)
    {
        var consumed = pipeline.Workers.SelectMany(w => w.Queues).ToHashSet();
        var rankOf = assets.Adapters.ToDictionary(a => a.Id, a => a.Rank, StringComparer.Ordinal);
        var missing = workload.Jobs.Select(j => (int?)RankBuckets.Default.BucketOf(rankOf[j.AdapterId!])).Distinct()
            .Where(b => !consumed.Contains(b)).ToList();
        if (missing.Count > 0)
            throw new InvalidOperationException($"the placement leaves rank queues {string.Join(", ", missing)} without a consumer");
    }

    /// <summary>Submits each job at its time (fresh job ids, same everything else), then waits until every job finished
    /// or none has for <see cref="PlacementBenchOptions.StallTimeout"/>.</summary>
    private static async Task<(List<SubmitJob> Submitted, string? Problem)> ReplayAsync(InProcessFleet pipeline, RunRecorder recorder, BenchWorkload workload,
        PlacementBenchOptions options, Action<string> status, CancellationToken ct)
    {
        var submitted = new List<SubmitJob>(workload.Jobs.Count);
        var clock = Stopwatch.StartNew();
        var nextReport = ProgressEvery;
        int lastFinished = -1;
        var lastChange = TimeSpan.Zero;
        while (true)
        {
            while (submitted.Count < workload.Jobs.Count && workload.Jobs[submitted.Count].At <= clock.Elapsed)
            {
                var job = workload.Templates[submitted.Count] with { JobId = Guid.NewGuid(), SubmittedAt = DateTimeOffset.UtcNow };
                await pipeline.SubmitAsync(job, ct);
                submitted.Add(job);
            }
            int finished = recorder.Finished;
            if (submitted.Count == workload.Jobs.Count && finished >= submitted.Count) return (submitted, null);
            if (clock.Elapsed >= nextReport)
            {
                status(string.Create(CultureInfo.InvariantCulture,
                    $"{clock.Elapsed.TotalSeconds:F0} s: submitted {submitted.Count}/{workload.Jobs.Count}, finished {finished}"));
                nextReport += ProgressEvery;
            }
            if (finished != lastFinished) (lastFinished, lastChange) = (finished, clock.Elapsed);
            if (submitted.Count == workload.Jobs.Count && clock.Elapsed - lastChange > options.StallTimeout)
                return (submitted, $"no job finished for {options.StallTimeout.TotalSeconds:F0} s; {submitted.Count - finished} unfinished");
            var untilNext = submitted.Count < workload.Jobs.Count ? workload.Jobs[submitted.Count].At - clock.Elapsed : Tick;
            await Task.Delay(untilNext < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : untilNext > Tick ? Tick : untilNext, ct);
        }
    }
}
