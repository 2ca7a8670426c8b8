using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dapper;
using LoRAQueue.Cli.Reliability;
using LoRAQueue.LoadState;
using Npgsql;
using StackExchange.Redis;

namespace LoRAQueue.Cli.Cluster;

/// <summary>The fault plan's actions, each run at its time while the replay goes on (docs/cluster.md, docs/reliability.md).</summary>
internal sealed partial class ClusterBench
{
    private async Task RunFaultsAsync(DrillReceiver receiver, RedisLoadState loadState, ConnectionMultiplexer redis, CancellationToken ct)
    {
        foreach (var step in options.Faults)
        {
            var at = TimeSpan.FromSeconds(step.AtSeconds);
            if (at > _clock.Elapsed) await Task.Delay(at - _clock.Elapsed, ct);
            double started = _clock.Elapsed.TotalSeconds;
            _phase = $"{step.Index}: {step.Action}";
            Say($"fault {step.Index}: {step.Describe()}");
            string detail;
            try
            {
                detail = step.Action switch
                {
                    "kill-workers" => await KillWorkersAsync(step, loadState, ct),
                    "kill-rabbitmq-leader" => await KillRabbitLeaderAsync(step, ct),
                    "postgres-down" => await PostgresDownAsync(step, ct),
                    "kill-scheduler" => await KillSchedulerAsync(step, redis, ct),
                    "webhook-receiver-down" => await ReceiverDownAsync(step, receiver, ct),
                    "redis-restart" => await RedisRestartAsync(redis, loadState, ct),
                    "kill-gateway-during-batch" => await KillGatewayDuringBatchAsync(step, receiver.Url, ct),
                    _ => throw new InvalidOperationException($"no action {step.Action}"),
                };
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or TimeoutException or HttpRequestException or NpgsqlException)
            {
                detail = "FAILED: " + e.Message;
            }
            double ended = _clock.Elapsed.TotalSeconds;
            Say($"fault {step.Index} done after {ended - started:0.#} s: {detail}");
            _faults.Add(new FaultOutcome(step.Index, step.Action, step.Describe(), Math.Round(started, 1), Math.Round(ended, 1), detail, null));
        }
    }

    private async Task<string> KillWorkersAsync(FaultStep step, RedisLoadState loadState, CancellationToken ct)
    {
        List<ClusterProcess> running;
        lock (_processes) running = [.. _processes.Where(p => p.Role == "worker" && !p.HasExited)];
        int n = Math.Max(1, (int)Math.Round(step.Number("fraction", 0.25) * running.Count));
        // Mid-batch: the workers holding the most jobs in their engines now.
        var busy = (await loadState.GetLiveWorkersAsync()).ToDictionary(h => h.Worker, h => h.JobsInEngine);
        var victims = running.OrderByDescending(p => busy.GetValueOrDefault(p.Id)).Take(n).ToList();
        int inEngine = victims.Sum(v => busy.GetValueOrDefault(v.Id));
        await Task.WhenAll(victims.Select(v => v.KillAsync()));
        string detail = $"SIGKILL {string.Join(",", victims.Select(v => v.Id))} ({inEngine} jobs in their engines at the last heartbeat)";
        if (!step.Flag("restart", true)) return detail;
        int before = _workerSequence;
        await StartWorkersAsync(n, ct);
        return detail + $"; started w{before + 1:00}…w{_workerSequence:00}";
    }

    private string BusiestQueue()
    {
        var rank = _items.GroupBy(i => i.Rank).OrderByDescending(g => g.Count()).First().Key;
        return rank == 0 ? "lora-base" : $"lora-rank-{rank}";
    }

    private async Task<string> KillRabbitLeaderAsync(FaultStep step, CancellationToken ct)
    {
        string queue = step.Text("queue", "busiest");
        if (queue == "busiest") queue = BusiestQueue();
        string killed = (await ServicesAsync(ct, "kill", "rabbitmq", $"leader:{queue}")).Trim();
        string node = killed.Split(' ')[0];
        await Task.Delay(TimeSpan.FromSeconds(step.Duration), ct);
        await ServicesAsync(ct, "up", "rabbitmq", node);
        AttachServers();
        return $"{queue}'s leader: node {killed}; restarted";
    }

    private async Task<string> PostgresDownAsync(FaultStep step, CancellationToken ct)
    {
        await ServicesAsync(ct, "down", "postgres");
        try { await Task.Delay(TimeSpan.FromSeconds(step.Duration), ct); }
        finally { await ServicesAsync(CancellationToken.None, "up", "postgres"); }
        AttachServers();
        return "stopped and started";
    }

    private async Task<string> KillSchedulerAsync(FaultStep step, ConnectionMultiplexer redis, CancellationToken ct)
    {
        var db = redis.GetDatabase();
        string? holder = await db.StringGetAsync("lq:scheduler:lease");
        ClusterProcess? leader;
        lock (_processes) leader = _processes.FirstOrDefault(p => p.Role == "scheduler" && !p.HasExited && holder == p.Id);
        if (leader is null) throw new InvalidOperationException($"no running scheduler of ours holds the lease (holder: {holder ?? "none"})");
        await leader.KillAsync();
        var clock = Stopwatch.StartNew();
        string? next = null;
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            next = await db.StringGetAsync("lq:scheduler:lease");
            if (next is not null && next != holder) break;
            await Task.Delay(250, ct);
        }
        string detail = $"SIGKILL {leader.Id}; lease to {next ?? "nobody"} after {clock.Elapsed.TotalSeconds:0.0} s";
        if (step.Flag("restart", true))
        {
            var standby = await StartSchedulerAsync(ct);
            detail += $"; started {standby.Id}";
        }
        return detail;
    }

    private static async Task<string> ReceiverDownAsync(FaultStep step, DrillReceiver receiver, CancellationToken ct)
    {
        int before = receiver.Refused;
        receiver.Down = true;
        try { await Task.Delay(TimeSpan.FromSeconds(step.Duration), ct); }
        finally { receiver.Down = false; }
        return $"{receiver.Refused - before} deliveries refused while down";
    }

    private async Task<string> ServicesAsync(CancellationToken ct, params string[] args)
    {
        if (options.ServicesEnv is null) throw new InvalidOperationException("this fault needs --services-env (the servers' env file of scripts/services.sh)");
        var start = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(options.ServicesScript);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["LORAQUEUE_SERVICES_ENV"] = options.ServicesEnv;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        if (process.ExitCode != 0) throw new InvalidOperationException($"services.sh {string.Join(' ', args)} failed: {await stderr}");
        return await stdout;
    }


    /// <summary>
    /// Redis SIGKILLed and started again empty (no persistence is configured): the lease, heartbeats, operating points, demand,
    /// adapter holders and the epoch counter are gone. Measures when a scheduler holds the lease again and when every running
    /// worker heartbeats again; the epoch counter restarts, and the scheduler takes its next epoch above the last recorded one.
    /// </summary>
    private async Task<string> RedisRestartAsync(ConnectionMultiplexer redis, RedisLoadState loadState, CancellationToken ct)
    {
        var db = redis.GetDatabase();
        string epochBefore = (string?)await db.StringGetAsync("lq:scheduler:epoch") ?? "none";
        await ServicesAsync(ct, "restart", "redis");
        AttachServers();
        var clock = Stopwatch.StartNew();
        int running;
        lock (_processes) running = _processes.Count(p => p.Role == "worker" && !p.HasExited);
        double? lease = null, heartbeats = null;
        string? holder = null;
        int live = 0;
        while (clock.Elapsed < TimeSpan.FromSeconds(90) && (lease is null || heartbeats is null))
        {
            try
            {
                if (lease is null && await db.StringGetAsync("lq:scheduler:lease") is { HasValue: true } h) { holder = h; lease = clock.Elapsed.TotalSeconds; }
                live = (await loadState.GetLiveWorkersAsync()).Count;
                if (heartbeats is null && live >= running) heartbeats = clock.Elapsed.TotalSeconds;
            }
            catch (Exception e) when (e is RedisException or TimeoutException) { }
            await Task.Delay(250, ct);
        }
        string epochAfter = (string?)await db.StringGetAsync("lq:scheduler:epoch") ?? "none";
        return string.Create(CultureInfo.InvariantCulture,
            $"Redis SIGKILLed, started empty; lease held by {holder ?? "nobody"} after {(lease is { } l ? $"{l:0.0} s" : "over 90 s")}; " +
            $"{live}/{running} workers heartbeat after {(heartbeats is { } b ? $"{b:0.0} s" : "over 90 s")}; epoch counter {epochBefore} before, {epochAfter} after");
    }

    /// <summary>
    /// A JSONL batch of <c>lines</c> jobs (the trace's first requests, at most <c>max_tokens</c> each) posted to gateway 1 with an
    /// Idempotency-Key; that gateway SIGKILLed <c>kill_after_ms</c> after the batch's row appears (mid-queueing); the producer
    /// posts the same body with the same key to the other gateway until it answers 202; gateway 1 started again on its port.
    /// Afterwards every line must have exactly one job: checked per custom_id in the history, beside the usual counts.
    /// </summary>
    private async Task<string> KillGatewayDuringBatchAsync(FaultStep step, string webhook, CancellationToken ct)
    {
        if (_http.Length < 2) throw new InvalidOperationException("kill-gateway-during-batch needs two gateways (--gateways 2)");
        int lines = (int)step.Number("lines", 1000);
        int maxTokens = (int)step.Number("max_tokens", 16);
        string drill = $"batch-{_runStamp}-{step.Index}";
        var body = new StringBuilder();
        for (int k = 0; k < lines; k++)
        {
            var item = _items[k % _items.Count];
            body.Append(JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["custom_id"] = $"line-{k + 1}", ["adapter"] = item.AdapterId, ["prompt"] = _prompts[item.Index],
                ["max_tokens"] = Math.Min(maxTokens, item.OutputTokens), ["webhook_url"] = webhook,
            })).Append('\n');
        }
        byte[] bytes = Encoding.UTF8.GetBytes(body.ToString());
        string path = $"v1/batches?metadata.drill={Uri.EscapeDataString(drill)}";
        Task<HttpResponseMessage> Post(int gateway)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(bytes) };
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/jsonl");
            request.Headers.Add("Idempotency-Key", drill);
            return _http[gateway].SendAsync(request, ct);
        }

        var posted = DateTimeOffset.UtcNow;
        var first = Post(0);
        var clock = Stopwatch.StartNew();
        while (!await BatchExistsAsync(drill, ct))
        {
            if (first.IsCompleted) throw new InvalidOperationException($"the batch finished before its gateway could be killed ({(first.IsCompletedSuccessfully ? (int)first.Result.StatusCode : 0)}); use more lines");
            if (clock.Elapsed > TimeSpan.FromSeconds(120)) throw new TimeoutException("the batch's row did not appear in 120 s");
            await Task.Delay(10, ct);
        }
        double rowAfter = clock.Elapsed.TotalSeconds;
        await Task.Delay(TimeSpan.FromMilliseconds(step.Number("kill_after_ms", 200)), ct);
        ClusterProcess victim;
        lock (_processes) victim = _processes.First(p => p.Role == "gateway" && !p.HasExited && p.Id.StartsWith("g1", StringComparison.Ordinal));
        bool answeredFirst = first.IsCompleted;
        await victim.KillAsync();
        string firstAnswer;
        try { using var r = await first; firstAnswer = $"{(int)r.StatusCode}"; }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { firstAnswer = "none (connection lost)"; }

        // The producer: same body, same key, the other gateway, until it is accepted.
        int tries = 0;
        JsonElement accepted = default;
        bool replayed = false;
        while (true)
        {
            tries++;
            using var response = await Post(1);
            if (response.StatusCode == HttpStatusCode.Accepted)
            {
                accepted = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
                replayed = response.Headers.Contains("Idempotent-Replayed");
                break;
            }
            if (tries >= 20) throw new InvalidOperationException($"the retried batch was not accepted after {tries} tries: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
            await Task.Delay(response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1), ct);
        }
        var batchId = accepted.GetProperty("batch_id").GetGuid();
        int acceptedLines = accepted.GetProperty("accepted").GetInt32();

        // Gateway 1 back on its port, so the replay's requests to it are answered again.
        string url = _gatewayUrls[0];
        var restarted = StartProcess("gateway", "g1-restarted", ["serve", "gateway", "--urls", url], new() { ["LORAQUEUE__POSTGRES__CONNECTIONSTRING"] = Pool(24) }, readyMarker: null);
        await WaitHealthyAsync(url, restarted, ct);

        // Every accepted line's job, from the history (rows are recorded when queued, or by the worker's events).
        var jobs = await WaitForBatchJobsAsync(batchId, acceptedLines, ct);
        foreach (var (jobId, line) in jobs)
            _accepted.Add(new AcceptedJob(jobId, -line, "batch: " + PhaseAt(0), posted, _items[(line - 1) % _items.Count].Rank));
        _drillBatches.Add((batchId, drill, lines, accepted.GetProperty("rejected").GetInt32()));
        return string.Create(CultureInfo.InvariantCulture,
            $"{lines}-line batch to g1; its row after {rowAfter:0.00} s; g1 SIGKILLed {step.Number("kill_after_ms", 200):0} ms later " +
            $"({(answeredFirst ? "it had answered already" : "mid-request")}, its answer: {firstAnswer}); retried on g2 with the same Idempotency-Key: " +
            $"202 after {tries} tries{(replayed ? " (Idempotent-Replayed: resumed)" : "")}, {acceptedLines} lines accepted, {jobs.Count} jobs in the history; g1 restarted");
    }

    private readonly List<(Guid BatchId, string Drill, int Lines, int Refused)> _drillBatches = [];

    private async Task<bool> BatchExistsAsync(string drill, CancellationToken ct)
    {
        await using var connection = await _database!.OpenConnectionAsync(ct);
        return await connection.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM batches WHERE metadata->>'drill' = @Drill)", new { Drill = drill }, cancellationToken: ct));
    }

    /// <summary>The batch's jobs (id, line number from custom_id "line-N") once the history has as many as were accepted (a minute at most).</summary>
    private async Task<List<(Guid JobId, int Line)>> WaitForBatchJobsAsync(Guid batchId, int expected, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            await using var connection = await _database!.OpenConnectionAsync(ct);
            var rows = (await connection.QueryAsync<(Guid JobId, string CustomId)>(new CommandDefinition(
                "SELECT job_id AS JobId, custom_id AS CustomId FROM jobs WHERE batch_id = @Id", new { Id = batchId }, cancellationToken: ct))).ToList();
            if (rows.Count >= expected || clock.Elapsed > TimeSpan.FromMinutes(1))
                return [.. rows.Select(r => (r.JobId, int.Parse(r.CustomId.AsSpan(5), CultureInfo.InvariantCulture)))];
            await Task.Delay(500, ct);
        }
    }

    /// <summary>After the drain: per drill batch, lines with no job, lines with more than one, and batches the drill made beyond one.</summary>
    private async Task<IReadOnlyList<BatchCheck>> CheckDrillBatchesAsync(CancellationToken ct)
    {
        var checks = new List<BatchCheck>();
        foreach (var (batchId, drill, lines, refused) in _drillBatches)
        {
            await using var connection = await _database!.OpenConnectionAsync(ct);
            var perLine = (await connection.QueryAsync<(string CustomId, int Jobs)>(new CommandDefinition(
                "SELECT custom_id AS CustomId, count(*)::int AS Jobs FROM jobs WHERE batch_id = @Id GROUP BY custom_id", new { Id = batchId }, cancellationToken: ct))).ToList();
            int batches = await connection.ExecuteScalarAsync<int>(new CommandDefinition(
                "SELECT count(*)::int FROM batches WHERE metadata->>'drill' = @Drill", new { Drill = drill }, cancellationToken: ct));
            checks.Add(new BatchCheck(batchId, lines, refused, perLine.Count, lines - perLine.Count, perLine.Count(l => l.Jobs > 1), batches));
        }
        return checks;
    }
}
