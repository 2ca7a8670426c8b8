using System.Diagnostics;
using LoRAQueue.History;
using Xunit.Abstractions;

namespace LoRAQueue.Integration.Tests;

/// <summary>The scheduler with real worker processes on real RabbitMQ, Redis and Postgres: rebalancing under drift,
/// failover to a standby, and a Redis outage.</summary>
[Collection(PipelineCollection.Name)]
public sealed class SchedulerTests(ModelFiles files, ITestOutputHelper output)
{
    private static readonly string[] Workers = ["w-a", "w-b", "w-c"];
    private static readonly Dictionary<string, double> Rank8Heavy = new() { ["r8"] = 2, ["r128"] = 0.25 };
    private static readonly Dictionary<string, double> Rank128Heavy = new() { ["r8"] = 0.25, ["r128"] = 2 };

    [Fact]
    public async Task A_shift_from_rank8_to_rank128_demand_moves_rank_groups_within_two_windows_and_loses_no_job()
    {
        await using var fleet = await Fleet.CreateAsync(files);
        await fleet.StartWorkersAsync(Workers);
        await fleet.StartSchedulerAsync("sched-1");
        await using var load = new SteadyLoad(fleet.Pipeline, Rank8Heavy);

        // Rank-8-heavy: the placement settles with more workers in the rank-8 group than in the rank-128 group.
        var before = await Eventually.WaitAsync(fleet.PlacementsAsync,
            ps => ps.Count > 0 && ps[^1].WorkersInGroup(8) > ps[^1].WorkersInGroup(128) && ps[^1].Workers.Count == Workers.Length,
            "a rank-8-heavy placement over all three workers", TimeSpan.FromSeconds(60), fleet.Pipeline.WorkerOutput);
        await fleet.WaitForAcknowledgementAsync(before[^1].Epoch, Workers, TimeSpan.FromSeconds(20));
        output.WriteLine($"before: {before[^1]}");

        var shiftedAt = DateTimeOffset.UtcNow;
        load.ChangeMix(Rank128Heavy);
        var after = await Eventually.WaitAsync(fleet.PlacementsAsync,
            ps => ps.Any(p => p.CreatedAt >= shiftedAt && p.WorkersInGroup(128) > p.WorkersInGroup(8)),
            "a rank-128-heavy placement", TimeSpan.FromSeconds(30), fleet.Pipeline.WorkerOutput);
        var followed = after.First(p => p.CreatedAt >= shiftedAt && p.WorkersInGroup(128) > p.WorkersInGroup(8));
        var lag = followed.CreatedAt - shiftedAt;
        output.WriteLine($"after {lag.TotalSeconds:F1} s: {followed}");
        foreach (var p in after) output.WriteLine($"  {p}");
        Assert.True(lag <= 2 * Fleet.Window, $"the placement followed the shift after {lag.TotalSeconds:F1} s, more than two windows");

        // The workers apply it (or a later one): their heartbeats list the queues of the latest placement.
        await fleet.WaitForAcknowledgementAsync(followed.Epoch, Workers, TimeSpan.FromSeconds(20));
        await Eventually.WaitAsync(async () => (Latest: (await fleet.PlacementsAsync())[^1], Live: await fleet.LoadState.GetLiveWorkersAsync()),
            s => s.Latest.Workers.All(w => s.Live.Any(h => h.Worker == w.Key && h.RankBuckets.Order().SequenceEqual(w.Value.Queues))),
            "the workers' heartbeats to list the queues of the latest placement", TimeSpan.FromSeconds(20), fleet.Pipeline.WorkerOutput);

        await load.StopAsync();
        await AssertEveryJobCompletedExactlyOnceAsync(fleet, load.Submitted);
    }

    [Fact]
    public async Task Killing_the_active_scheduler_hands_over_to_the_standby_within_the_lease_time()
    {
        await using var fleet = await Fleet.CreateAsync(files);
        await fleet.StartWorkersAsync(Workers);
        var schedulers = new[] { await fleet.StartSchedulerAsync("sched-1"), await fleet.StartSchedulerAsync("sched-2") };
        await using var load = new SteadyLoad(fleet.Pipeline, Rank8Heavy);

        var first = await Eventually.WaitAsync(fleet.PlacementsAsync, ps => ps.Count > 0, "a first placement",
            TimeSpan.FromSeconds(60), fleet.Pipeline.WorkerOutput);
        await fleet.WaitForAcknowledgementAsync(first[^1].Epoch, Workers, TimeSpan.FromSeconds(20));
        string leader = (await fleet.LeaseHolderAsync())!;
        var (doomed, standby) = leader == "sched-1" ? (schedulers[0], schedulers[1]) : (schedulers[1], schedulers[0]);

        var clock = Stopwatch.StartNew();
        await doomed.KillAsync();
        await Eventually.WaitAsync(fleet.LeaseHolderAsync, holder => holder == standby.Id, "the standby to take the lease",
            TimeSpan.FromSeconds(15), fleet.Pipeline.WorkerOutput);
        var takeover = clock.Elapsed;
        output.WriteLine($"{standby.Id} took over {takeover.TotalSeconds:F2} s after {doomed.Id} was killed (lease {Fleet.LeaseTime.TotalSeconds} s)");
        // The lease lapses at most one lease time after the dead leader's last renewal, and the standby polls every tenth.
        Assert.True(takeover <= Fleet.LeaseTime * 1.1 + TimeSpan.FromSeconds(0.5), $"takeover took {takeover.TotalSeconds:F2} s");

        // The new leader places under a newer epoch, which every worker applies.
        var next = await Eventually.WaitAsync(fleet.PlacementsAsync, ps => ps[^1].Epoch > first[^1].Epoch, "a placement by the new leader",
            TimeSpan.FromSeconds(20), fleet.Pipeline.WorkerOutput);
        await fleet.WaitForAcknowledgementAsync(next[^1].Epoch, Workers, TimeSpan.FromSeconds(20));

        await load.StopAsync();
        await AssertEveryJobCompletedExactlyOnceAsync(fleet, load.Submitted);
    }

    [Fact]
    public async Task With_redis_stopped_for_a_while_no_job_is_lost_and_the_scheduler_recovers_when_it_returns()
    {
        await using var fleet = await Fleet.CreateAsync(files);
        await fleet.StartWorkersAsync(Workers);
        await fleet.StartSchedulerAsync("sched-1");
        await using var load = new SteadyLoad(fleet.Pipeline, Rank8Heavy);
        var first = await Eventually.WaitAsync(fleet.PlacementsAsync, ps => ps.Count > 0, "a first placement",
            TimeSpan.FromSeconds(60), fleet.Pipeline.WorkerOutput);
        await fleet.WaitForAcknowledgementAsync(first[^1].Epoch, Workers, TimeSpan.FromSeconds(20));

        await fleet.Redis.StopAsync();
        int submittedBefore = load.Submitted.Count;
        // Jobs keep flowing through RabbitMQ while Redis is down: watch some submitted after the stop complete.
        await Eventually.WaitAsync(() => Task.FromResult(load.Submitted.Skip(submittedBefore).Count(id => fleet.Completions.CountOf(id) > 0)),
            n => n >= 20, "jobs submitted during the outage to complete", TimeSpan.FromSeconds(30), fleet.Pipeline.WorkerOutput);
        long lastEpoch = (await fleet.PlacementsAsync())[^1].Epoch;
        await fleet.Redis.RestartAsync(); // empty: the epoch counter, heartbeats and demand are gone

        // Recovery: heartbeats return, the scheduler leads again and places above every epoch it issued before.
        await Eventually.WaitAsync(async () => (await fleet.LoadState.GetLiveWorkersAsync()).Count, n => n == Workers.Length,
            "the workers' heartbeats to return", TimeSpan.FromSeconds(30), fleet.Pipeline.WorkerOutput);
        var recovered = await Eventually.WaitAsync(fleet.PlacementsAsync, ps => ps[^1].Epoch > lastEpoch,
            "a placement after Redis returned", TimeSpan.FromSeconds(30), fleet.Pipeline.WorkerOutput);
        await fleet.WaitForAcknowledgementAsync(recovered[^1].Epoch, Workers, TimeSpan.FromSeconds(20));
        output.WriteLine($"recovered: {recovered[^1]}");

        await load.StopAsync();
        await AssertEveryJobCompletedExactlyOnceAsync(fleet, load.Submitted);
    }

    private async Task AssertEveryJobCompletedExactlyOnceAsync(Fleet fleet, IReadOnlyCollection<Guid> submitted)
    {
        output.WriteLine($"{submitted.Count} jobs submitted");
        var records = await fleet.Pipeline.WaitForJobsAsync([.. submitted], JobStatus.Completed, TimeSpan.FromSeconds(90));
        Assert.Equal(submitted.Count, records.Count);
        // History rows are upserts; the events say whether a job ran twice.
        await Eventually.WaitAsync(() => Task.FromResult(submitted.Count(id => fleet.Completions.CountOf(id) > 0)), n => n == submitted.Count,
            "a JobCompleted event for every job", TimeSpan.FromSeconds(30));
        var duplicated = submitted.Where(id => fleet.Completions.CountOf(id) > 1).ToList();
        Assert.True(duplicated.Count == 0, $"{duplicated.Count} jobs completed more than once: {string.Join(", ", duplicated.Take(5))}");
    }
}
