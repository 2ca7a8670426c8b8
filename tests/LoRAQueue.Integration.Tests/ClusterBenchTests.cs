using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace LoRAQueue.Integration.Tests;

/// <summary>`loraqueue bench cluster` end to end as a user runs it: its own gateways, schedulers and emulated workers as processes, on this
/// test's vhost, database and Redis; a 20-request trace; every job counted and the twin beside it.</summary>
[Collection(PipelineCollection.Name)]
public sealed class ClusterBenchTests(ModelFiles files, ITestOutputHelper output)
{
    [Fact]
    public async Task Bench_cluster_runs_three_emulated_workers_through_two_gateways_and_counts_every_job_once_beside_the_twin_through_a_gateway_kill()
    {
        await using var redis = await RedisServer.StartAsync();
        await using var pipeline = await Pipeline.CreateAsync(files, redis: redis);
        using var dir = new TempDirectory();
        // 20 requests over ~8 s, four adapters of ranks 8 and 32 (the bench creates and registers them).
        var trace = new StringBuilder("req_id,model_dir,adapter_dir,prompt_len,output_len,req_time\n");
        for (int i = 0; i < 20; i++)
            trace.Append(CultureInfo.InvariantCulture, $"{i},/m,adapters/it-rank-{(i % 2 == 0 ? 8 : 32)}-{i % 4 / 2},{40 + 7 * i},{8 + i},{i * 0.4:0.0}\n");
        var tracePath = Path.Combine(dir.Path, "trace.csv");
        await File.WriteAllTextAsync(tracePath, trace.ToString());
        // While the replay runs: gateway 1 SIGKILLed during a keyed 200-line batch upload, the batch retried on gateway 2.
        var planPath = Path.Combine(dir.Path, "faults.json");
        await File.WriteAllTextAsync(planPath, """[{"at_seconds": 2, "action": "kill-gateway-during-batch", "args": {"lines": 200, "max_tokens": 4, "kill_after_ms": 1}}]""");

        var environment = pipeline.HostEnvironment();
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { pipeline.Env.CliDll, "bench", "cluster", "--trace", tracePath, "--workers", "3", "--gateways", "2", "--schedulers", "2",
                                  "--profile", "a100", "--max-sequences", "16", "--model", Path.Combine(dir.Path, "model"),
                                  "--adapter-store", Path.Combine(dir.Path, "adapters"), "--work-dir", dir.Path, "--tenant", "it-cluster",
                                  "--start-wave", "3", "--drain-timeout", "60", "--faults", planPath, "--json" })
            start.ArgumentList.Add(a);
        foreach (var (k, v) in environment) start.Environment[k] = v;
        start.Environment.Remove("LORAQUEUE_API_KEY");
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3)))
        {
            try { await process.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException) { process.Kill(entireProcessTree: true); }
        }
        string progress = await stderr, json = await stdout;
        output.WriteLine(progress);
        output.WriteLine(json);
        output.WriteLine($"bench cluster took {clock.Elapsed.TotalSeconds:0} s");
        Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}:{Environment.NewLine}{progress}");

        var report = JsonDocument.Parse(json).RootElement;
        Assert.Equal(20, report.GetProperty("requests").GetInt32());
        Assert.Equal(220, report.GetProperty("accepted").GetInt32()); // the replay's 20 and the batch's 200
        Assert.Equal(0, report.GetProperty("requests_with_two_jobs").GetInt32());
        var jobs = report.GetProperty("jobs").EnumerateArray().Single(j => j.GetProperty("phase").GetString() == "all");
        Assert.Equal(220, jobs.GetProperty("terminal_by_events").GetInt32());
        Assert.Equal(220, jobs.GetProperty("terminal_in_history").GetInt32());
        Assert.Equal(220, jobs.GetProperty("completed").GetInt32());
        Assert.Equal(0, jobs.GetProperty("lost").GetInt32());
        Assert.Equal(0, jobs.GetProperty("duplicated").GetInt32());
        Assert.Equal(0, jobs.GetProperty("stuck").GetInt32());
        Assert.Equal(220, jobs.GetProperty("webhooks_once").GetInt32());
        var fault = Assert.Single(report.GetProperty("faults").EnumerateArray());
        Assert.DoesNotContain("FAILED", fault.GetProperty("detail").GetString());
        var batch = Assert.Single(report.GetProperty("batches").EnumerateArray());
        Assert.Equal((200, 200, 0, 0, 1), (batch.GetProperty("lines").GetInt32(), batch.GetProperty("lines_with_a_job").GetInt32(),
                                           batch.GetProperty("lines_lost").GetInt32(), batch.GetProperty("lines_duplicated").GetInt32(),
                                           batch.GetProperty("batches").GetInt32()));
        Assert.True(report.GetProperty("held").GetBoolean());
        var live = report.GetProperty("live");
        Assert.Equal(20, live.GetProperty("completed").GetInt32());
        Assert.True(live.GetProperty("ttft_p95_s").GetDouble() > 0);
        Assert.Equal(20, report.GetProperty("twin").GetProperty("completed").GetInt32());
        var roles = report.GetProperty("processes").EnumerateArray().GroupBy(p => p.GetProperty("role").GetString()).ToDictionary(g => g.Key!, g => g.Count());
        Assert.Equal(3, roles["worker"]);
        Assert.Equal(3, roles["gateway"]); // g1, g2 and g1 started again after its kill
        Assert.Equal(2, roles["scheduler"]);
        Assert.All(report.GetProperty("processes").EnumerateArray().Where(p => p.GetProperty("role").GetString() is "worker" or "gateway" or "scheduler"),
                   p => Assert.True(p.GetProperty("peak_rss_mb").GetDouble() > 10 && p.GetProperty("cpu_seconds").GetDouble() > 0, p.ToString()));
        Assert.Equal(3, report.GetProperty("emulation").GetProperty("workers_reporting").GetInt32());
        Assert.True(report.GetProperty("adapters").GetProperty("pulls_by_source").GetProperty("store").GetProperty("pulls").GetInt32() >= 4);
    }
}
