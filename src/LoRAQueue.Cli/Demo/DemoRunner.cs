using System.Diagnostics;
using LoRAQueue.Contracts;
using LoRAQueue.Core;
using LoRAQueue.Formats;
using LoRAQueue.History;
using LoRAQueue.InProcess;
using LoRAQueue.Worker;
using LoRAQueue.Workloads;
using Spectre.Console;

namespace LoRAQueue.Cli.Demo;

/// <summary>The demo's result: the summary, and the history its jobs were recorded in (for tests and tooling).</summary>
internal sealed record DemoOutcome(DemoSummary Summary, IJobHistory History, IReadOnlyList<SubmitJob> Jobs);

/// <summary>
/// Runs the embedded demo: makes sure the model and adapters exist, builds the workload, starts the in-process
/// pipeline, replays the jobs on their schedule while showing progress, and summarises the history.
/// </summary>
internal static class DemoRunner
{
    public const string Tenant = "demo";

    public static async Task<DemoOutcome> RunAsync(DemoOptions options, IAnsiConsole? live, IProgress<string> status, CancellationToken ct)
    {
        var wall = Stopwatch.StartNew();
        var bands = RankAssignment.Partition(RankBuckets.Default, options.Workers);
        // A broken trace is reported before anything is generated or started.
        var trace = options.TracePath is { } path ? TraceReader.Read(path, options.Jobs) : null;
        var assets = DemoAssets.Ensure(options.CacheRoot, options.AdaptersPerRank, status);
        var workload = trace is not null
            ? DemoWorkload.FromTrace(trace, options.Seed, assets.Adapters, options.Speedup)
            : DemoWorkload.Generate(options.Jobs, options.Seed, assets.Adapters, options.Speedup);
        var jobs = CreateJobs(workload, ModelTokenizer.Load(assets.ModelPath), options.Seed);

        var log = new CapturedLog();
        var tracker = new JobTracker(new InMemoryJobHistory());
        await using var pipeline = await StartFleetAsync(assets, bands, options.Kernel, tracker, log, ct);
        status.Report($"{workload.Jobs.Count} jobs over {workload.Duration.TotalSeconds:F1} s (speedup {workload.Speedup:F1}×) on " +
                      string.Join("; ", pipeline.Workers.Select(w => $"{w.Id}: {w.QueueList}")));
        status.Report($"adapters move between the workers by {InProcessFleet.PeerTransport} (one process: no UCX needed; " +
                      $"worker processes pull from each other over UCX, {(Ucx.UcxNode.IsAvailable(out var why) ? $"available here, {Ucx.UcxNode.Version}" : why)})");

        var replay = new Replay(pipeline, tracker, workload, jobs, ExpectedPerWorker(pipeline, workload, assets), options);
        if (live is null)
        {
            await replay.RunAsync(null, null, ct);
        }
        else if (!live.Profile.Capabilities.Interactive)
        {
            // A pipe or a file: Spectre's progress would print every task on every change; a calm line every few seconds.
            await replay.RunAsync(null, status, ct);
        }
        else
        {
            await live.Progress().AutoClear(false).HideCompleted(false)
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .StartAsync(ctx => replay.RunAsync(ctx, null, ct));
        }
        if (replay.Problem is { } problem) status.Report(problem);
        if (pipeline.Pulls.Rows() is { Count: > 0 } pulls)
            status.Report("adapter pulls: " + string.Join(", ", pulls.Select(p => $"{p.Count} from {p.Source} ({p.Bytes / 1e6:F1} MB, {p.TotalMs:F0} ms)")));

        var records = new List<JobRecord>(jobs.Count);
        foreach (var job in jobs.Take(replay.Submitted))
            if (await tracker.GetAsync(job.JobId, ct) is { } record) records.Add(record);
        var summary = DemoSummary.From(workload.Description, jobs.Count, records, pipeline.Workers, options.Kernel, workload.Speedup,
                                       replay.Elapsed, wall.Elapsed, log);
        return new DemoOutcome(summary, tracker, jobs);
    }

    /// <summary>The in-process fleet with every demo adapter registered and one worker per rank band, each consuming its
    /// band's queues.</summary>
    private static async Task<InProcessFleet> StartFleetAsync(DemoAssets assets, IReadOnlyList<IReadOnlyList<int?>> bands, string kernel,
                                                              JobTracker tracker, CapturedLog log, CancellationToken ct)
    {
        var validator = AdapterValidator.ForModelDirectory(assets.AdapterStorePath, assets.ModelPath, RankBuckets.Default);
        var registry = new InMemoryAdapterRegistry(validator);
        foreach (var adapter in assets.Adapters) await registry.RegisterAsync(adapter.Id, Tenant, ct);
        var fleet = await InProcessFleet.StartAsync(new InProcessFleetOptions { Registry = registry, History = tracker, Log = log, ModelPath = assets.ModelPath }, ct);
        try
        {
            for (int i = 0; i < bands.Count; i++)
            {
                await fleet.AddWorkerAsync(new WorkerSettings
                {
                    Id = $"worker-{i + 1}", ModelPath = assets.ModelPath, AdapterStorePath = assets.AdapterStorePath,
                    RankQueues = bands[i], Kernel = kernel, KvCacheMb = 32, DrainTimeout = TimeSpan.FromSeconds(10),
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

    private static List<SubmitJob> CreateJobs(DemoWorkload workload, ModelTokenizer tokenizer, int seed)
    {
        var prompts = new PromptText(tokenizer, DemoWorkload.MaxPromptTokens);
        var rng = new Random(seed + 3);
        return workload.Jobs.Select(j => new SubmitJob
        {
            JobId = Guid.NewGuid(),
            Tenant = Tenant,
            AdapterId = j.AdapterId,
            Prompt = prompts.Make(j.PromptTokens, rng),
            MaxTokens = j.MaxTokens,
            Metadata = new Dictionary<string, string> { ["demo_job"] = j.Index.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        }).ToList();
    }

    /// <summary>How many jobs each worker will get: those whose adapter's bucket is in its band.</summary>
    private static Dictionary<string, int> ExpectedPerWorker(InProcessFleet pipeline, DemoWorkload workload, DemoAssets assets)
    {
        var bucketOf = assets.Adapters.ToDictionary(a => a.Id, a => (int?)RankBuckets.Default.BucketOf(a.Rank));
        return pipeline.Workers.ToDictionary(w => w.Id, w => workload.Jobs.Count(j =>
            w.Node.Settings.RankQueues.Contains(j.AdapterId is null ? null : bucketOf[j.AdapterId])));
    }

    /// <summary>Submits each job at its time and follows the history until every job finished; the one loop that
    /// touches the progress display (Spectre's progress is not thread-safe).</summary>
    private sealed class Replay(InProcessFleet pipeline, JobTracker tracker, DemoWorkload workload, IReadOnlyList<SubmitJob> jobs,
                                IReadOnlyDictionary<string, int> expectedPerWorker, DemoOptions options)
    {
        private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(50);

        public int Submitted { get; private set; }
        public TimeSpan Elapsed { get; private set; }
        public string? Problem { get; private set; }

        /// <summary>Shows progress in <paramref name="ui"/> (a live view), or as a line to <paramref name="lines"/> every
        /// <see cref="DemoOptions.ProgressLineInterval"/>, or not at all.</summary>
        public async Task RunAsync(ProgressContext? ui, IProgress<string>? lines, CancellationToken ct)
        {
            var nextLine = options.ProgressLineInterval;
            var submitted = ui?.AddTask("submitted", maxValue: Math.Max(1, jobs.Count));
            var finished = ui?.AddTask("finished", maxValue: Math.Max(1, jobs.Count));
            var perWorker = pipeline.Workers.Select(w => (Worker: w, Task: ui?.AddTask(Markup.Escape($"{w.Id} ({w.QueueList})"),
                maxValue: Math.Max(1, expectedPerWorker[w.Id])))).ToList();
            var clock = Stopwatch.StartNew();
            int lastFinished = -1;
            var lastChange = TimeSpan.Zero;
            while (true)
            {
                while (Submitted < jobs.Count && workload.Jobs[Submitted].At <= clock.Elapsed)
                {
                    await pipeline.SubmitAsync(jobs[Submitted] with { SubmittedAt = DateTimeOffset.UtcNow }, ct);
                    Submitted++;
                }

                int done = tracker.Finished, failed = tracker.Failed;
                submitted?.Value(Submitted).Description($"submitted {Submitted}/{jobs.Count}");
                finished?.Value(done).Description(failed == 0 ? $"finished {done}/{jobs.Count}" : $"finished {done}/{jobs.Count} ([red]{failed} failed[/])");
                foreach (var (worker, task) in perWorker) task?.Value(tracker.CompletedBy(worker.Id));

                if (lines is not null && clock.Elapsed >= nextLine)
                {
                    lines.Report(ProgressLine(clock.Elapsed, done, failed, tracker));
                    while (nextLine <= clock.Elapsed) nextLine += options.ProgressLineInterval;
                }

                if (Submitted == jobs.Count && done >= jobs.Count) break;
                if (done != lastFinished) (lastFinished, lastChange) = (done, clock.Elapsed);
                if (Submitted == jobs.Count && clock.Elapsed - lastChange > options.StallTimeout)
                {
                    Problem = $"no job finished for {options.StallTimeout.TotalSeconds:F0} s; {jobs.Count - done} jobs are still unfinished";
                    break;
                }
                if (clock.Elapsed > options.Timeout)
                {
                    Problem = $"the replay ran out of time ({options.Timeout.TotalSeconds:F0} s) with {jobs.Count - done} jobs unfinished";
                    break;
                }
                var untilNext = Submitted < jobs.Count ? workload.Jobs[Submitted].At - clock.Elapsed : Tick;
                await Task.Delay(untilNext < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : untilNext > Tick ? Tick : untilNext, ct);
            }
            foreach (var task in new[] { submitted, finished }.Concat(perWorker.Select(p => p.Task))) task?.StopTask();
            Elapsed = clock.Elapsed;
            lines?.Report(ProgressLine(Elapsed, tracker.Finished, tracker.Failed, tracker));
        }

        private string ProgressLine(TimeSpan at, int done, int failed, JobTracker tracker) =>
            FormattableString.Invariant($"{at.TotalSeconds:F0} s: submitted {Submitted}/{jobs.Count}, finished {done}/{jobs.Count}") +
            (failed > 0 ? FormattableString.Invariant($" ({failed} failed)") : "") + "; " +
            string.Join(", ", pipeline.Workers.Select(w => FormattableString.Invariant(
                $"{w.Id} {tracker.CompletedBy(w.Id)}/{expectedPerWorker[w.Id]}")));
    }
}
