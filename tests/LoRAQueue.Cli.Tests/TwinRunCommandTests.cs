using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LoRAQueue.Cli.Tests;

/// <summary>`loraqueue twin run|capacity` on a small LoRAServe trace with the built-in a100 profile.</summary>
public sealed class TwinRunCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loraqueue-twin-run-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>Two requests a second for a minute over six adapters of ranks 8–128.</summary>
    private string Trace()
    {
        var csv = new StringBuilder("req_id,model_dir,adapter_dir,prompt_len,output_len,req_time\n");
        for (int i = 0; i < 120; i++)
            csv.Append(CultureInfo.InvariantCulture,
                $"{i},llama-7b,adapters/a{i % 6}-rank-{new[] { 8, 16, 32, 64, 128, 8 }[i % 6]}-0,{200 + i % 7 * 50},{20 + i % 5 * 10},{i * 0.5}\n");
        string path = Path.Combine(_dir, "trace.csv");
        File.WriteAllText(path, csv.ToString());
        return path;
    }

    [Fact]
    public async Task Run_prints_the_contracted_json_and_completes_every_request()
    {
        var result = await CliRun.InvokeAsync("twin", "run", "--trace", Trace(), "--workers", "2", "--policy", "loraserve", "--profile", "a100",
                                              "--kernel", "padded", "--slo-ttft", "0.5", "--json", "--plots", _dir,
                                              "--requests-out", Path.Combine(_dir, "requests.csv"));

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Output);
        var root = json.RootElement;
        foreach (var field in new[] { "policy", "kernel", "workers", "requests", "completed", "throughput_rps", "output_tokens_per_s",
                                      "ttft_p50_s", "ttft_p95_s", "ttft_p99_s", "slo_attainment", "simulated_seconds", "wall_seconds", "worker_stats", "placements" })
            Assert.True(root.TryGetProperty(field, out _), $"missing {field}: {result.Output}");
        Assert.Equal(120, root.GetProperty("completed").GetInt32());
        Assert.Equal("padded", root.GetProperty("kernel").GetString());
        Assert.True(File.Exists(Path.Combine(_dir, "ttft-cdf.png")));
        var lines = File.ReadAllLines(Path.Combine(_dir, "requests.csv"));
        Assert.StartsWith("request,adapter,rank,input_tokens,output_tokens,arrival_s,worker,first_token_s,finished_s,ttft_s", lines[0]);
        Assert.Equal(121, lines.Length);
        Assert.All(lines.Skip(1), l => Assert.Matches(@"^\d+,[^,]+,\d+,\d+,\d+,[\d.]+,w[12],[\d.]+,[\d.]+,[\d.]+,\d+$", l));
    }

    [Fact]
    public async Task Rate_scale_two_replays_the_trace_in_half_the_time()
    {
        var once = JsonDocument.Parse((await CliRun.InvokeAsync("twin", "run", "--trace", Trace(), "--workers", "4", "--policy", "replicate-all", "--json")).Output);
        var twice = JsonDocument.Parse((await CliRun.InvokeAsync("twin", "run", "--trace", Trace(), "--workers", "4", "--policy", "replicate-all", "--rate-scale", "2", "--json")).Output);

        double Seconds(JsonDocument d) => d.RootElement.GetProperty("simulated_seconds").GetDouble();
        Assert.InRange(Seconds(twice) / Seconds(once), 0.45, 0.55);
    }

    [Fact]
    public async Task Capacity_names_the_fewest_workers_per_policy()
    {
        var result = await CliRun.InvokeAsync("twin", "capacity", "--trace", Trace(), "--slo-ttft", "0.2", "--attainment", "0.9",
                                              "--policies", "loraserve,replicate-all", "--rate-scale", "20", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        var policies = JsonDocument.Parse(result.Output).RootElement.GetProperty("policies").EnumerateArray().ToList();
        Assert.Equal(["loraserve", "replicate-all"], policies.Select(p => p.GetProperty("policy").GetString()));
        Assert.All(policies, p => Assert.True(p.GetProperty("workers_needed").GetInt32() >= 1));
        Assert.All(policies, p => Assert.True(p.GetProperty("slo_attainment").GetDouble() >= 0.9));
    }

    [Fact]
    public async Task Sweep_reports_each_policys_throughput_at_the_slo_and_draws_it_against_rate()
    {
        var result = await CliRun.InvokeAsync("twin", "sweep", "--trace", Trace(), "--workers", "1", "--policies", "loraserve,replicate-all",
                                              "--rate-scales", "1,40", "--slo-ttft", "0.5", "--max-backlog", "4", "--json", "--plots", _dir);

        Assert.True(result.ExitCode == 0, result.ToString());
        var root = JsonDocument.Parse(result.Output).RootElement;
        Assert.Equal(1, root.GetProperty("workers").GetInt32());
        var policies = root.GetProperty("policies").EnumerateArray().ToList();
        Assert.Equal(["loraserve", "replicate-all"], policies.Select(p => p.GetProperty("policy").GetString()));
        foreach (var policy in policies)
        {
            var points = policy.GetProperty("points").EnumerateArray().ToList();
            Assert.True(points.Count > 2, "the search refines between the two rates"); // 2 req/s is easy for an A100, 80 req/s is not
            Assert.True(points[0].GetProperty("meets_slo").GetBoolean());
            Assert.False(points[^1].GetProperty("meets_slo").GetBoolean());
            double best = policy.GetProperty("rate_at_slo_rps").GetDouble();
            Assert.Contains(points, p => p.GetProperty("meets_slo").GetBoolean() && p.GetProperty("offered_rps").GetDouble() == best);
            Assert.All(points.Where(p => p.GetProperty("meets_slo").GetBoolean()), p => Assert.True(p.GetProperty("offered_rps").GetDouble() <= best));
        }
        foreach (var png in new[] { "throughput-vs-rate.png", "ttft-p95-vs-rate.png", "slo-attainment-vs-rate.png" })
            Assert.True(File.Exists(Path.Combine(_dir, png)), png);

        var bad = await CliRun.InvokeAsync("twin", "sweep", "--trace", Trace(), "--workers", "1", "--rate-scales", "1,fast");
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("'fast'", bad.Error);
    }

    [Fact]
    public async Task A_bad_trace_row_fails_with_the_file_and_line()
    {
        string path = Path.Combine(_dir, "bad.csv");
        File.WriteAllText(path, "req_id,model_dir,adapter_dir,prompt_len,output_len,req_time\n0,m,a-rank-8-0,10,5,0\n1,m,a-rank-8-0,ten,5,1\n");

        var result = await CliRun.InvokeAsync("twin", "run", "--trace", path, "--workers", "1");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("bad.csv:3", result.Error);
    }
}
