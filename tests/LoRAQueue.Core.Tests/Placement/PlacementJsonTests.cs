using System.Text.Json;
using LoRAQueue.Core.Placement;

namespace LoRAQueue.Core.Tests.Placement;

public class PlacementJsonTests
{
    private const string IssueSnapshot = """
        {
          "workers": [
            {"id": "gpu-0", "memory_bytes": 4000000000, "operating_points": {"8": 2400, "16": 2100, "32": 1900, "64": 1700, "128": 1600}},
            {"id": "gpu-1", "memory_bytes": 4000000000, "operating_points": {"8": 2400, "128": 1600}, "heartbeat_at": "ignored"}
          ],
          "adapters": [
            {"id": "support-r8", "rank": 8, "size_bytes": 16777216, "demand_tps": 1800},
            {"id": "legal-r128", "rank": 128, "size_bytes": 268435456, "demand_tps": 1200, "tenant": "ignored"},
            {"id": null, "demand_tps": 300}
          ]
        }
        """;

    [Fact]
    public void Reads_the_snapshot_format_of_the_issue_with_extra_fields_and_base_demand()
    {
        var snapshot = PlacementJson.ReadSnapshot(IssueSnapshot);
        Assert.Equal(2, snapshot.Workers.Count);
        Assert.Equal(1600, snapshot.Workers[1].OperatingPoints[128]);
        Assert.Equal(4_000_000_000, snapshot.Workers[0].MemoryBytes);
        var baseDemand = Assert.Single(snapshot.Adapters, a => a.IsBase);
        Assert.Equal(0, baseDemand.Rank);
        Assert.Equal(300, baseDemand.DemandTps);
    }

    [Fact]
    public void Writes_a_plan_in_snake_case_that_reads_back_as_the_previous_plan()
    {
        var snapshot = PlacementJson.ReadSnapshot(IssueSnapshot);
        var plan = new LoraServePolicy().Plan(snapshot, null);
        string json = PlacementJson.Write(plan);

        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        Assert.Equal("loraserve", root.GetProperty("policy").GetString());
        var worker = root.GetProperty("workers")[0];
        foreach (var field in new[] { "id", "rank_queues", "adapters", "load", "serves_base", "adapter_shares", "rank_group", "max_rank" })
            Assert.True(worker.TryGetProperty(field, out _), $"plan worker lacks '{field}': {json}");
        Assert.False(root.TryGetProperty("moves", out _)); // no previous, no moves

        var previous = PlacementJson.ReadPlan(json);
        Assert.Equal(plan.Workers.Select(w => w.Adapters), previous.Workers.Select(w => w.Adapters));
        var again = new LoraServePolicy().Plan(snapshot, previous);
        Assert.Equal(0, again.Moves!.AdapterLoads);
        Assert.Equal(0, again.Moves.QueueChanges);
        Assert.Contains("\"moves\"", PlacementJson.Write(again));
    }

    [Fact]
    public void A_hand_written_previous_plan_with_only_the_documented_fields_is_accepted()
    {
        var previous = PlacementJson.ReadPlan("""
            {"policy": "loraserve", "workers": [
              {"id": "gpu-0", "rank_queues": [128], "adapters": ["legal-r128"], "load": 0.7},
              {"id": "gpu-1", "rank_queues": [8], "adapters": ["support-r8"], "load": 0.7}]}
            """);
        var plan = new LoraServePolicy().Plan(PlacementJson.ReadSnapshot(IssueSnapshot), previous);
        // The workers keep the rank groups they had, even though ids in order would put gpu-0 first in rank order.
        Assert.Contains("legal-r128", plan.Workers.Single(w => w.Id == "gpu-0").Adapters);
        Assert.Contains("support-r8", plan.Workers.Single(w => w.Id == "gpu-1").Adapters);
        Assert.Equal(0, plan.Moves!.AdapterLoads);
    }

    [Theory]
    [InlineData("{ not json", "invalid JSON")]
    [InlineData("""{"adapters": []}""", "workers")]
    [InlineData("""{"workers": [{"id": "w", "memory_bytes": 1, "operating_points": {"eight": 5}}], "adapters": []}""", "operating_points")]
    [InlineData("""{"workers": [{"id": "w", "memory_bytes": "lots", "operating_points": {}}], "adapters": []}""", "memory_bytes")]
    public void Malformed_snapshots_fail_with_a_message_naming_the_problem(string json, string mentioned)
    {
        var error = Assert.Throws<PlacementInputException>(() => PlacementJson.ReadSnapshot(json));
        Assert.Contains(mentioned, error.Message);
    }

    [Theory]
    [InlineData("""{"workers": [], "adapters": []}""", "no workers")]
    [InlineData("""{"workers": [{"id": "w", "memory_bytes": 1, "operating_points": {"8": 1}}, {"id": "w", "memory_bytes": 1, "operating_points": {"8": 1}}], "adapters": []}""", "'w' appears twice")]
    [InlineData("""{"workers": [{"id": "w", "memory_bytes": -1, "operating_points": {"8": 1}}], "adapters": []}""", "memory_bytes")]
    [InlineData("""{"workers": [{"id": "w", "memory_bytes": 1, "operating_points": {}}], "adapters": []}""", "'w'")]
    [InlineData("""{"workers": [{"id": "w", "memory_bytes": 1, "operating_points": {"8": 1}}], "adapters": [{"id": "a", "rank": 8, "demand_tps": -3}]}""", "'a': demand_tps")]
    [InlineData("""{"workers": [{"id": "w", "memory_bytes": 1, "operating_points": {"8": 1}}], "adapters": [{"id": "a", "rank": 0}]}""", "'a': rank")]
    [InlineData("""{"workers": [{"id": "w", "memory_bytes": 1, "operating_points": {"8": 1}}], "adapters": [{"id": "a", "rank": 8}, {"id": "a", "rank": 16}]}""", "'a': appears twice")]
    [InlineData("""{"workers": [{"id": "w", "memory_bytes": 1, "operating_points": {"8": 1}}], "adapters": [{"id": null, "rank": 8}]}""", "base")]
    [InlineData("""{"workers": [{"id": "w", "memory_bytes": 1, "operating_points": {"8": 1}}], "adapters": [{"id": null}, {"id": null}]}""", "more than one base")]
    [InlineData("""{"rank_buckets": [16, 8], "workers": [{"id": "w", "memory_bytes": 1, "operating_points": {"8": 1}}], "adapters": []}""", "rank_buckets")]
    public void Invalid_snapshots_are_rejected_by_every_policy_naming_the_culprit(string json, string mentioned)
    {
        var snapshot = PlacementJson.ReadSnapshot(json);
        foreach (var name in PlacementPolicies.Names)
        {
            var error = Assert.Throws<PlacementInputException>(() => PlacementPolicies.Create(name).Plan(snapshot, null));
            Assert.Contains(mentioned, error.Message);
        }
    }

    [Fact]
    public void Unknown_policy_names_list_the_known_ones()
    {
        var error = Assert.Throws<ArgumentException>(() => PlacementPolicies.Create("round-robin"));
        foreach (var name in PlacementPolicies.Names) Assert.Contains(name, error.Message);
    }
}
