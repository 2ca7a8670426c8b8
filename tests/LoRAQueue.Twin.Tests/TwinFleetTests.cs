using System.Text.Json;
using LoRAQueue.Core.Costs;

namespace LoRAQueue.Twin.Tests;

public sealed class TwinFleetTests
{
    /// <summary>Every step takes the same time, whatever it computes: event times can be worked out by hand.</summary>
    private sealed class FixedStep(double seconds) : IStepCostModel
    {
        public string Name => "fixed";
        public List<StepShape> Steps { get; } = [];

        public TimeSpan StepTime(StepShape step, LoraKernelKind kernel)
        {
            Steps.Add(step);
            return TimeSpan.FromSeconds(seconds);
        }
    }

    /// <summary>Each step costs what its LoRA work costs: 1 µs per token-rank plus 1 ms.</summary>
    private sealed class RankCost : IStepCostModel
    {
        public string Name => "rank";
        public TimeSpan StepTime(StepShape step, LoraKernelKind kernel) =>
            TimeSpan.FromSeconds(0.001 + step.Tokens * 1e-4 + step.LoraTokenRank(kernel) * 1e-6);
    }

    private static TwinOptions Options(IStepCostModel cost, int workers = 1, string policy = "replicate-all") =>
        new()
        {
            Workers = workers, Policy = policy, Cost = cost, CheckSeconds = 5, AdapterLoadSeconds = (_, _) => 0,
            // Given, not measured from the cost model: the only steps priced are the run's.
            OperatingPoints = cost is FixedStep ? new Dictionary<int, double> { [0] = 1000, [8] = 900, [128] = 500 } : null,
        };

    [Fact]
    public void A_tiny_trace_runs_at_the_times_worked_out_by_hand()
    {
        var cost = new FixedStep(0.1);
        var result = new TwinFleet(Options(cost)).Run(
        [
            new TwinRequest(1, 0.00, InputTokens: 4, OutputTokens: 2, AdapterId: null, Rank: 0),
            new TwinRequest(2, 0.05, InputTokens: 3, OutputTokens: 2, AdapterId: null, Rank: 0),
        ]);

        // t=0: A's prompt (4) → 0.1: A's first token; B (arrived during the step) joins: A decodes, B prefills (3)
        // → 0.2: A done, B's first token → 0.3: B done.
        Assert.Equal(3, cost.Steps.Count);
        Assert.Equal((4, 0), (cost.Steps[0].PrefillTokens, cost.Steps[0].DecodeTokens));
        Assert.Equal((3, 1), (cost.Steps[1].PrefillTokens, cost.Steps[1].DecodeTokens));
        Assert.Equal((0, 1), (cost.Steps[2].PrefillTokens, cost.Steps[2].DecodeTokens));
        Assert.Equal(5 + 3, cost.Steps[1].KvTokensRead); // A's 4 prompt + its new token; B's 3
        Assert.Equal(2, result.Completed);
        Assert.Equal([0.1, 0.15], result.Ttfts.Select(t => Math.Round(t, 6)));
        Assert.Equal(0.3, result.SimulatedSeconds, 6);
        Assert.Equal(Math.Round(2 / 0.3, 3), result.ThroughputRps);
    }

    [Fact]
    public void Workers_sharing_one_machine_slow_each_other_and_pickup_delays_the_start()
    {
        // Two workers, one step at full speed at a time: the second worker's step starts while the first steps, so it takes 2 × 0.1 s.
        var result = new TwinFleet(Options(new FixedStep(0.1), workers: 2) with { ConcurrentSteps = 1, PickupSeconds = 0.01 }).Run(
        [
            new TwinRequest(1, 0, 4, 1, null, 0),
            new TwinRequest(2, 0, 4, 1, null, 0),
        ]);

        Assert.Equal([0.11, 0.21], result.Ttfts.Select(t => Math.Round(t, 6)).Order());
    }

    [Theory]
    [InlineData(null, "w1", 4.5)] // prefetch credit alone: w1 takes r4 in its turn and runs it after r0 and r2
    [InlineData(1, "w2", 2.5)]    // load-aware: w1 already holds r2 waiting, so r4 waits for w2, which runs it at t = 2
    public void Load_aware_credit_leaves_a_job_to_the_worker_that_can_start_it(int? maxBacklog, string r4Worker, double r4Ttft)
    {
        // One sequence per engine, 1 s a step. r0 (three tokens) keeps w1 busy until t = 3; r1 frees w2 at t = 1.
        var options = Options(new FixedStep(1), workers: 2) with { MaxSequences = 1, Prefetch = 4, MaxBacklog = maxBacklog, CheckSeconds = 100 };
        var result = new TwinFleet(options).Run(
        [
            new TwinRequest(0, 0, 1, 3, null, 0),
            new TwinRequest(1, 0, 1, 1, null, 0),
            new TwinRequest(2, 0.5, 1, 1, null, 0),
            new TwinRequest(3, 0.5, 1, 1, null, 0),
            new TwinRequest(4, 0.5, 1, 1, null, 0),
        ]);

        var jobs = result.Jobs.ToDictionary(j => j.Request.Id);
        Assert.Equal(["w1", "w2", "w1", "w2", r4Worker], jobs.Values.OrderBy(j => j.Request.Id).Select(j => j.Worker));
        Assert.Equal(r4Ttft, jobs[4].TtftSeconds!.Value, 6);
        Assert.Equal(3.5, jobs[2].TtftSeconds!.Value, 6); // behind r0 on w1 either way
        Assert.Equal(1.5, jobs[3].TtftSeconds!.Value, 6);
    }

    [Fact]
    public void A_step_prices_each_adapter_as_one_segment_at_its_rank()
    {
        var cost = new FixedStep(0.01);
        new TwinFleet(Options(cost)).Run(
        [
            new TwinRequest(0, 0, 4, 1, null, 0), // starts the first step; the others arrive during it and batch together
            new TwinRequest(1, 0.001, 8, 1, "a16", 16),
            new TwinRequest(2, 0.001, 8, 1, "b64", 64),
            new TwinRequest(3, 0.001, 8, 1, "a16", 16),
        ]);

        var second = cost.Steps[1];
        Assert.Equal(24, second.PrefillTokens);
        Assert.Equal([new LoraSegment(16, 16), new LoraSegment(8, 64)], second.Segments);
        Assert.Equal(16 * 16 + 8 * 64, second.LoraTokenRank(LoraKernelKind.Segmented));
        Assert.Equal(24 * 64, second.LoraTokenRank(LoraKernelKind.Padded));
    }

    [Fact]
    public void Planning_up_front_places_once_before_the_first_job_with_the_adapters_already_resident()
    {
        var requests = Enumerable.Range(0, 200).Select(i => new TwinRequest(i, i * 0.05, 32, 8, $"a{i % 4}", i % 4 < 2 ? 8 : 128, 1 << 20)).ToList();

        var result = new TwinFleet(Options(new RankCost(), workers: 2, policy: "loraserve") with { PlanUpFront = true }).Run(requests);

        var placement = Assert.Single(result.Placements);
        Assert.Equal((0.0, "UpFront"), (placement.AtSeconds, placement.Reason));
        Assert.Equal(0, result.AdapterLoads); // preloaded, as the bench's workers are
        Assert.Equal(requests.Count, result.Completed);
        // Two ranks with demand on two workers: one group each (the empty buckets' queues still get a consumer).
        var groups = placement.Queues.Values.OrderBy(q => q.Min()).ToList();
        Assert.Equal([8], groups[0]);
        Assert.Contains(128, groups[1]);
        Assert.DoesNotContain(8, groups[1]);
    }

    [Fact]
    public void The_same_trace_and_options_give_the_same_run()
    {
        var random = new Random(7);
        var requests = Enumerable.Range(0, 400).Select(i => new TwinRequest(i, i * 0.02, random.Next(16, 200), random.Next(4, 64),
            $"a{random.Next(6)}", new[] { 8, 16, 32, 64, 128, 8 }[i % 6], 1 << 20)).ToList();

        string Run() => JsonSerializer.Serialize(new TwinFleet(Options(new RankCost(), workers: 3, policy: "loraserve")).Run(requests) with { WallSeconds = 0 });

        Assert.Equal(Run(), Run());
    }

    [Fact]
    public void Placements_come_from_the_real_policy_and_every_request_completes()
    {
        var random = new Random(3);
        var requests = Enumerable.Range(0, 3000).Select(i => new TwinRequest(i, i * 0.02, random.Next(16, 200), random.Next(4, 64),
            $"a{i % 10}", new[] { 8, 16, 32, 64, 128 }[i % 10 / 2], 1 << 20)).ToList();

        var result = new TwinFleet(Options(new RankCost(), workers: 4, policy: "loraserve") with { Drift = new() { Window = TimeSpan.FromSeconds(10) } })
            .Run(requests);

        Assert.Equal(requests.Count, result.Completed);
        Assert.NotEmpty(result.Placements);
        // loraserve groups ranks: after placement no worker consumes every rank queue.
        Assert.Contains(result.WorkerStats, w => w.FinalRankQueues.Count < 5);
    }
}

public sealed class TwinCapacityTests
{
    /// <summary>A worker serves one request per step, at one step a second: N workers finish a burst of 8 requests in
    /// ceil(8 / N) steps, so the SLO's first-token bound says how many workers it takes.</summary>
    private sealed class OneSecondPerStep : IStepCostModel
    {
        public string Name => "1 s";
        public TimeSpan StepTime(StepShape step, LoraKernelKind kernel) => TimeSpan.FromSeconds(1);
    }

    [Theory]
    [InlineData(2.5, 4)] // ceil(8/4) = 2 steps ≤ 2.5 s; 3 workers need 3
    [InlineData(1.0, 8)]
    public void The_search_finds_the_fewest_workers_that_meet_the_slo(double slo, int expected)
    {
        var burst = Enumerable.Range(0, 8).Select(i => new TwinRequest(i, 0, 4, 1, null, 0)).ToList();
        TwinOptions Options(int workers) => new()
        {
            Workers = workers, Policy = "replicate-all", Cost = new OneSecondPerStep(), MaxSequences = 1, SloTtftSeconds = slo,
            OperatingPoints = new Dictionary<int, double> { [0] = 1 }, CheckSeconds = 100,
        };

        var answer = TwinCapacity.Search(burst, Options, attainment: 1.0);

        Assert.Equal(expected, answer.WorkersNeeded);
        Assert.Equal(1.0, answer.SloAttainment);
        Assert.Contains(answer.Probes, p => p.Workers == expected - 1 && p.SloAttainment < 1); // the one below fails
    }
}

public sealed class TwinSweepTests
{
    private sealed class OneSecondPerStep : IStepCostModel
    {
        public string Name => "1 s";
        public TimeSpan StepTime(StepShape step, LoraKernelKind kernel) => TimeSpan.FromSeconds(1);
    }

    /// <summary>One worker serving one single-token request a second; the trace offers one a second.</summary>
    private static readonly List<TwinRequest> OnePerSecond = [.. Enumerable.Range(0, 10).Select(i => new TwinRequest(i, i, 1, 1, null, 0))];

    private static readonly TwinOptions OneWorker = new()
    {
        Workers = 1, Policy = "replicate-all", Cost = new OneSecondPerStep(), MaxSequences = 1, SloTtftSeconds = 1.001, // TTFT is exactly 1 s up to rounding
        OperatingPoints = new Dictionary<int, double> { [0] = 1 }, CheckSeconds = 100,
    };

    [Fact]
    public void The_throughput_at_the_slo_is_found_between_the_last_rate_that_met_it_and_the_first_that_did_not()
    {
        // Up to one request a second every request's first token comes 1 s after it arrives; any faster and the second waits.
        var series = TwinSweep.Run(OnePerSecond, OneWorker, [0.5, 2], attainment: 1, refineSteps: 4);

        // Bisection between 0.5 (met) and 2 (missed): 1.25 ✗, 0.875 ✓, 1.0625 ✗, 0.96875 ✓.
        Assert.Equal([0.5, 0.875, 0.96875, 1.0625, 1.25, 2], series.Points.Select(p => p.RateScale));
        Assert.Equal(0.96875, series.RateScaleAtSlo);
        var best = series.Points.Single(p => p.RateScale == 0.96875);
        Assert.Equal(best.ThroughputRps, series.ThroughputAtSloRps);
        Assert.Equal(best.OfferedRps, series.RateAtSloRps);
        Assert.Equal(Math.Round(10 * 0.96875 / 9, 3), best.OfferedRps);
        Assert.All(series.Points, p => Assert.Equal(p.RateScale <= 1, p.MeetsSlo));
        Assert.False(series.LowerBound);
    }

    [Fact]
    public void A_sweep_whose_every_rate_meets_the_slo_reports_a_lower_bound_and_one_that_never_does_reports_none()
    {
        var easy = TwinSweep.Run(OnePerSecond, OneWorker, [0.25, 0.5], attainment: 1);
        Assert.True(easy.LowerBound);
        Assert.Equal(0.5, easy.RateScaleAtSlo);

        var hard = TwinSweep.Run(OnePerSecond, OneWorker with { SloTtftSeconds = 0.5 }, [0.25, 0.5], attainment: 1);
        Assert.Null(hard.RateAtSloRps);
        Assert.Equal(2, hard.Points.Count); // nothing to refine

        Assert.Throws<ArgumentException>(() => TwinSweep.Run(OnePerSecond, OneWorker, [0], attainment: 1));
    }
}
