using LoRAQueue.Core.Placement;

namespace LoRAQueue.Scheduler.Tests;

public class PlacementHistoryTests(PostgresFixture postgres) : IClassFixture<PostgresFixture>
{
    private static PlacementPlan Plan(string policy, params (string Id, int[] Queues, string[] Adapters)[] workers) => new()
    {
        Policy = policy,
        TargetUtil = 0.5,
        Budgets = new Dictionary<int, int> { [8] = 1, [128] = workers.Length - 1 },
        Workers = [.. workers.Select(w => new WorkerPlacement
        {
            Id = w.Id, RankGroup = w.Queues.Max(), RankQueues = w.Queues, ServesBase = w.Queues.Contains(8), Adapters = w.Adapters,
            AdapterShares = w.Adapters.ToDictionary(a => a, _ => 1.0), BaseShare = w.Queues.Contains(8) ? 1.0 : null,
            Load = 0.5, MaxRank = w.Queues.Max(), MemoryUsedBytes = 1024,
        })],
    };

    [Fact]
    public async Task Records_round_trip_and_the_latest_is_the_largest_epoch()
    {
        var history = new PlacementHistory(postgres.DataSource);
        Assert.Null(await history.GetLatestAsync(default));

        var first = Plan("loraserve", ("w1", [8], ["a8"]), ("w2", [16, 128], ["a128", "b16"]));
        var second = Plan("loraserve", ("w1", [8, 128], ["a8", "a128"]), ("w2", [128], ["a128"]));
        var moves = PlanDiff.Compute(first, second, new Dictionary<string, long> { ["a128"] = 4096 });
        var at = new DateTimeOffset(2026, 3, 1, 12, 0, 0, 123, TimeSpan.Zero);
        await history.RecordAsync(new PlacementRecord(7, "loraserve", "Initial", at, new PlacementInputs(2, 3, 120.5), first, null), default);
        var secondRecord = new PlacementRecord(9, "loraserve", "DemandShift: bucket shares moved 0.400", at.AddSeconds(15),
                                               new PlacementInputs(2, 3, 150.25), second, moves);
        await history.RecordAsync(secondRecord, default);

        var latest = await history.GetLatestAsync(default);
        Assert.NotNull(latest);
        Assert.Equal(9, latest!.Epoch);
        Assert.Equal("loraserve", latest.Policy);
        Assert.Equal(secondRecord.Reason, latest.Reason);
        Assert.Equal(secondRecord.CreatedAt, latest.CreatedAt);
        Assert.Equal(secondRecord.Inputs, latest.Inputs);
        // The stored plan reads back as the same JSON the CLI prints.
        Assert.Equal(PlacementJson.Write(second), PlacementJson.Write(latest.Plan));
        Assert.NotNull(latest.Moves);
        Assert.Equal(moves.AdapterLoads, latest.Moves!.AdapterLoads);
        Assert.Equal(4096, latest.Moves.BytesLoaded);
        Assert.Equal(moves.Items, latest.Moves.Items);
    }

    [Fact]
    public async Task An_epoch_is_recorded_once()
    {
        var history = new PlacementHistory(postgres.DataSource);
        var plan = Plan("contiguous", ("w1", [8], []));
        var record = new PlacementRecord(1000, "contiguous", "Window", DateTimeOffset.UtcNow, new PlacementInputs(1, 0, 0), plan, null);
        await history.RecordAsync(record, default);
        await Assert.ThrowsAsync<Npgsql.PostgresException>(() => history.RecordAsync(record, default));
    }
}
