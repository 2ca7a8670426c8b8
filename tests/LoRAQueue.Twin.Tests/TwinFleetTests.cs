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
