using System.Text.Json;

namespace LoRAQueue.Cli.Tests;

/// <summary>`loraqueue placement plan`: snapshot in, plan out, for every policy; bad input gets one clear line.</summary>
public sealed class PlacementCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lq-placement-").FullName;

    private const string Snapshot = """
        {"workers": [
          {"id": "w1", "memory_bytes": 4000000000, "operating_points": {"8": 2400, "16": 2100, "32": 1900, "64": 1700, "128": 1600}},
          {"id": "w2", "memory_bytes": 4000000000, "operating_points": {"8": 2400, "16": 2100, "32": 1900, "64": 1700, "128": 1600}},
          {"id": "w3", "memory_bytes": 4000000000, "operating_points": {"8": 2400, "16": 2100, "32": 1900, "64": 1700, "128": 1600}}],
         "adapters": [
          {"id": "a8", "rank": 8, "size_bytes": 16000000, "demand_tps": 1500},
          {"id": "b8", "rank": 8, "size_bytes": 16000000, "demand_tps": 600},
          {"id": "a32", "rank": 32, "size_bytes": 64000000, "demand_tps": 900},
          {"id": "a128", "rank": 128, "size_bytes": 256000000, "demand_tps": 1200}]}
        """;

    [Theory]
    [InlineData("loraserve")]
    [InlineData("replicate-all")]
    [InlineData("random-partition")]
    [InlineData("contiguous")]
    public async Task Every_adapter_is_held_by_a_worker_that_consumes_its_rank_queue(string policy)
    {
        var state = Write("state.json", Snapshot);

        var result = await CliRun.InvokeAsync("placement", "plan", "--policy", policy, "--state", state, "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var plan = JsonDocument.Parse(result.Output);
        Assert.Equal(policy, plan.RootElement.GetProperty("policy").GetString());
        var workers = plan.RootElement.GetProperty("workers").EnumerateArray().ToList();
        Assert.Equal(["w1", "w2", "w3"], workers.Select(w => w.GetProperty("id").GetString()).Order());
        foreach (var (adapter, rank) in new[] { ("a8", 8), ("b8", 8), ("a32", 32), ("a128", 128) })
            Assert.Contains(workers, w =>
                w.GetProperty("adapters").EnumerateArray().Any(a => a.GetString() == adapter) &&
                w.GetProperty("rank_queues").EnumerateArray().Any(q => q.GetInt32() == rank));
        Assert.All(workers, w => Assert.InRange(w.GetProperty("load").GetDouble(), 0.0, 1.5));
    }

    [Fact]
    public async Task A_plan_against_itself_as_previous_moves_nothing()
    {
        var state = Write("state.json", Snapshot);
        var first = await CliRun.InvokeAsync("placement", "plan", "--state", state);
        var previous = Write("plan.json", first.Output);

        var second = await CliRun.InvokeAsync("placement", "plan", "--state", state, "--previous", previous);

        Assert.True(second.ExitCode == 0, second.ToString());
        using var plan = JsonDocument.Parse(second.Output);
        var moves = plan.RootElement.GetProperty("moves");
        Assert.Equal(0, moves.GetProperty("adapter_loads").GetInt32());
        Assert.Equal(0, moves.GetProperty("queue_changes").GetInt32());
    }

    [Fact]
    public async Task A_malformed_snapshot_is_one_clear_error_line()
    {
        var state = Write("bad.json", """{"workers": 3}""");

        var result = await CliRun.InvokeAsync("placement", "plan", "--state", state);

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: snapshot", result.Error);
        Assert.Contains("workers", result.Error);
        Assert.Equal("", result.Output);
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
