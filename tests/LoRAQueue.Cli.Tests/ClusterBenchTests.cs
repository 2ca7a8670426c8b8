using LoRAQueue.Cli.Cluster;
using LoRAQueue.Cli.Reliability;
using LoRAQueue.Workloads;

namespace LoRAQueue.Cli.Tests;

/// <summary>The pure parts of `bench cluster`: the replay schedule, prompts of exact lengths, the fault plan, the counting, the figures.</summary>
public sealed class ClusterBenchTests
{
    private static WorkloadRequest Request(double at, int input = 100, int output = 20, string? adapter = "a-rank-8", int? rank = 8) =>
        new(TimeSpan.FromSeconds(at), input, output, adapter, rank);

    [Fact]
    public void The_schedule_divides_arrival_times_by_the_rate_scale_and_deals_requests_round_robin_to_the_gateways()
    {
        var requests = new[] { Request(2), Request(0), Request(1), Request(3) };

        var schedule = ReplaySchedule.Build(requests, rateScale: 2, gateways: 2, duration: null, maxContext: 4096);

        Assert.Equal([0, 0.5, 1, 1.5], schedule.Items.Select(i => i.DueSeconds));
        Assert.Equal([0, 1, 0, 1], schedule.Items.Select(i => i.Gateway));
        Assert.Equal([0, 1, 2, 3], schedule.Items.Select(i => i.Index));
        Assert.Equal(0, schedule.Clamped);
        Assert.Equal(4 / 1.5, schedule.OfferedRps, 6);
    }

    [Fact]
    public void The_schedule_keeps_only_requests_due_within_the_duration_and_clamps_lengths_to_the_context()
    {
        var requests = new[] { Request(0, input: 5000, output: 100), Request(1, input: 10, output: 0), Request(5) };

        var schedule = ReplaySchedule.Build(requests, rateScale: 1, gateways: 3, duration: 2, maxContext: 1024);

        Assert.Equal(2, schedule.Items.Count);
        Assert.Equal((924, 100), (schedule.Items[0].InputTokens, schedule.Items[0].OutputTokens)); // prompt + output = the context
        Assert.Equal(1, schedule.Items[1].OutputTokens);
        Assert.Equal(2, schedule.Clamped);
        Assert.Throws<ArgumentOutOfRangeException>(() => ReplaySchedule.Build(requests, 0, 1, null, 1024));
        Assert.Throws<ArgumentOutOfRangeException>(() => ReplaySchedule.Build(requests, 1, 0, null, 1024));
    }

    [Fact]
    public void Prompts_have_the_exact_token_count_asked_for()
    {
        // A tokenizer that counts BOS plus one token per word, and merges "the the" pairs after 50 words (so the first guess is off).
        static int Count(string text)
        {
            int words = text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
            return 1 + (words <= 50 ? words : 50 + (words - 50 + 1) / 2);
        }
        var maker = new PromptMaker(Count);

        foreach (int n in new[] { 2, 3, 17, 51, 52, 200, 1001 }) Assert.Equal(n, Count(maker.Make(n)));
        Assert.Same(maker.Make(200), maker.Make(200));
    }

    [Fact]
    public void A_fault_plan_is_read_in_time_order_with_its_arguments_and_defaults()
    {
        var plan = FaultPlan.Parse("""
            [ {"at_seconds": 60, "action": "kill-rabbitmq-leader", "args": {"queue": "busiest", "down_seconds": 15}},
              {"at_seconds": 20, "action": "kill-workers", "args": {"fraction": 0.25}},
              {"at_seconds": 100, "action": "postgres-down"} ]
            """);

        Assert.Equal(["kill-workers", "kill-rabbitmq-leader", "postgres-down"], plan.Select(s => s.Action));
        Assert.Equal([1, 0, 2], plan.Select(s => s.Index));
        Assert.Equal(0.25, plan[0].Number("fraction", 1));
        Assert.True(plan[0].Flag("restart", true));
        Assert.Equal(15, plan[1].Duration);
        Assert.Equal(30, plan[2].Duration);
        Assert.Empty(FaultPlan.Parse("[]"));

        var drill = FaultPlan.Parse("""[{"at_seconds": 5, "action": "redis-restart"}, {"at_seconds": 9, "action": "kill-gateway-during-batch", "args": {"lines": 1000}}]""");
        Assert.Equal(0, drill[0].Duration);
        Assert.Equal(1000, drill[1].Number("lines", 0));
        Assert.Contains("1000-line batch", drill[1].Describe(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{}", "expected a JSON list")]
    [InlineData("[1]", "plan[0]: expected an object, got a number")]
    [InlineData("""[{"action": "kill-workers"}]""", "plan[0]: at_seconds is required")]
    [InlineData("""[{"at_seconds": -1, "action": "kill-workers"}]""", "plan[0]: at_seconds must be ≥ 0")]
    [InlineData("""[{"at_seconds": 1}]""", "plan[0]: action is required")]
    [InlineData("""[{"at_seconds": 1, "action": "reboot"}]""", "plan[0]: unknown action 'reboot' (known: kill-workers,")]
    [InlineData("""[{"at_seconds": 1, "action": "kill-workers", "args": {"fraction": 1.5}}]""", "kill-workers's fraction must be a number in (0, 1]")]
    [InlineData("""[{"at_seconds": 1, "action": "kill-workers", "args": {"count": 3}}]""", "kill-workers takes no argument 'count' (it takes: fraction, restart)")]
    [InlineData("""[{"at_seconds": 1, "action": "postgres-down", "args": {"seconds": "30"}}]""", "postgres-down's seconds must be a positive number")]
    [InlineData("""[{"at_seconds": 1, "action": "kill-workers", "when": 3}]""", "unknown field 'when'")]
    [InlineData("""[{"at_seconds": 1, "action": "redis-restart", "args": {"seconds": 5}}]""", "redis-restart takes no argument 'seconds'")]
    [InlineData("""[{"at_seconds": 1, "action": "kill-gateway-during-batch", "args": {"lines": 0}}]""", "kill-gateway-during-batch's lines must be a positive number")]
    [InlineData("""[{"at_seconds": 10, "action": "postgres-down", "args": {"seconds": 30}}, {"at_seconds": 20, "action": "kill-workers"}]""",
                "plan[1]: starts at 20 s while plan[0] (postgres-down) lasts until 40 s: one fault at a time")]
    [InlineData("[", "plan: not JSON")]
    public void A_bad_fault_plan_is_refused_naming_the_entry_and_what_is_wrong(string json, string expected)
    {
        var e = Assert.Throws<FaultPlanException>(() => FaultPlan.Parse(json, "plan"));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    private static TappedEvent Started(string worker) => new("JobStarted", "p", null, null) { Worker = worker };
    private static TappedEvent Completed(string worker) => new("JobCompleted", null, "out", null) { Worker = worker };

    [Fact]
    public void Lost_duplicated_stuck_and_re_executed_jobs_are_counted_from_events_rows_and_webhooks()
    {
        var ids = Enumerable.Range(0, 7).Select(_ => Guid.NewGuid()).ToArray();
        var now = DateTimeOffset.UtcNow;
        var accepted = ids.Select((id, i) => new AcceptedJob(id, i, i < 4 ? "before faults" : "0: kill-workers", now, 8)).ToList();
        var events = new Dictionary<Guid, IReadOnlyList<TappedEvent>>
        {
            [ids[0]] = [Started("w1"), Completed("w1")],                              // fine
            [ids[1]] = [Started("w1")],                                               // lost: no terminal event
            [ids[2]] = [Started("w1"), Completed("w1")],                              // stuck: row still running
            [ids[3]] = [Started("w1"), Completed("w1")],                              // webhook twice: duplicated
            [ids[4]] = [Started("w2"), Started("w3"), Completed("w3")],               // re-executed after a kill: fine otherwise
            [ids[5]] = [Started("w2"), Completed("w2")],                              // no row at all: lost
            [ids[6]] = [new TappedEvent("JobFailed", null, null, "engine_error") { Worker = "w2" }], // failed, recorded
        };
        var rows = new Dictionary<Guid, HistoryRow>
        {
            [ids[0]] = new("completed", 1), [ids[1]] = new("running", 1), [ids[2]] = new("running", 1), [ids[3]] = new("completed", 1),
            [ids[4]] = new("completed", 1), [ids[6]] = new("failed", 1),
        };
        var hooks = new Dictionary<Guid, int> { [ids[0]] = 1, [ids[2]] = 1, [ids[3]] = 2, [ids[4]] = 1, [ids[5]] = 1, [ids[6]] = 1 };

        var counts = JobAccounting.Count(accepted, events, rows, hooks);

        Assert.Equal(["before faults", "0: kill-workers", "all"], counts.Select(c => c.Phase));
        var before = counts[0];
        Assert.Equal((4, 3, 2, 1, 1, 1, 0), (before.Accepted, before.TerminalByEvents, before.TerminalInHistory, before.Lost, before.Duplicated, before.Stuck, before.ReExecuted));
        Assert.Equal((3, 2, 1, 0), (before.WebhooksDue, before.WebhooksOnce, before.WebhooksTwice, before.WebhooksMissing));
        var after = counts[1];
        Assert.Equal((3, 3, 2, 1, 0, 0, 1, 1), (after.Accepted, after.TerminalByEvents, after.TerminalInHistory, after.Lost, after.Duplicated, after.Stuck,
                                                after.ReExecuted, after.Failed));
        Assert.False(after.Held);
        Assert.Equal(7, counts[2].Accepted);
        Assert.Equal(2, counts[2].Lost);
    }

    [Fact]
    public void With_no_faults_there_is_one_phase_and_a_clean_run_holds()
    {
        var id = Guid.NewGuid();
        var counts = JobAccounting.Count([new AcceptedJob(id, 0, "all", DateTimeOffset.UtcNow, 16)],
            new Dictionary<Guid, IReadOnlyList<TappedEvent>> { [id] = [Started("w1"), Completed("w1")] },
            new Dictionary<Guid, HistoryRow> { [id] = new("completed", 1) }, new Dictionary<Guid, int> { [id] = 1 });

        Assert.True(Assert.Single(counts).Held);
    }

    [Fact]
    public void Recovery_is_the_end_of_the_first_window_after_the_fault_back_at_most_of_the_earlier_rate()
    {
        // 10 completions a second until 30 s, none until 40 s, then 2 a second until 45 s, then 10 a second again.
        var times = new List<double>();
        for (double t = 0; t < 30; t += 0.1) times.Add(t);
        for (double t = 40; t < 45; t += 0.5) times.Add(t);
        for (double t = 45; t < 80; t += 0.1) times.Add(t);

        double? recovery = JobAccounting.RecoverySeconds(times, faultStart: 30, faultEnd: 35);

        Assert.NotNull(recovery);
        Assert.InRange(recovery!.Value, 18, 20.5); // first 5 s window with ≥ 40 completions ends near 49–50 s
        Assert.Null(JobAccounting.RecoverySeconds(times, faultStart: 0, faultEnd: 1)); // nothing before it to compare with
    }

    [Fact]
    public void Figures_give_throughput_nearest_rank_percentiles_per_rank_and_attainment_over_all_requests()
    {
        var jobs = new List<(int, double?, int, double?, bool)>();
        for (int i = 1; i <= 100; i++) jobs.Add((i % 2 == 0 ? 8 : 64, i / 10.0, 10, i / 2.0, false));
        jobs.Add((8, null, 0, null, false)); // never finished: counts against attainment

        var f = Figures.Of(jobs, 0, slo: 5);

        Assert.Equal(100, f.Completed);
        Assert.Equal(2, f.ThroughputRps, 6);      // 100 in 50 s
        Assert.Equal(20, f.OutputTokensPerS, 6);
        Assert.Equal(5.0, f.TtftP50S);
        Assert.Equal(9.5, f.TtftP95S);
        Assert.Equal(Math.Round(50 / 101.0, 4), f.SloAttainment);
        Assert.Equal([8, 64], f.ByRank.Select(r => r.Rank));
        Assert.Equal(51, f.ByRank[0].Requests);
        Assert.Equal(10.0, f.ByRank[0].TtftP99S);
        Assert.Equal(-10.0, Figures.Diff(10, 9));
        Assert.Null(Figures.Diff(0, 1));
    }

    [Fact]
    public async Task Bench_cluster_refuses_a_bad_fault_plan_before_it_starts_anything()
    {
        using var dir = new TempDirectory();
        var plan = Path.Combine(dir.Path, "plan.json");
        await File.WriteAllTextAsync(plan, """[{"at_seconds": 5, "action": "kill-workers", "args": {"fraction": 2}}]""");

        var result = await CliRun.InvokeAsync("bench", "cluster", "--trace", Path.Combine(dir.Path, "absent.csv"), "--faults", plan);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("plan.json[0]: kill-workers's fraction must be a number in (0, 1] (got 2)", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_drill_receiver_counts_a_delivery_sent_again_under_its_webhook_id_once()
    {
        await using var receiver = new LoRAQueue.Cli.Reliability.DrillReceiver();
        using var http = new HttpClient();
        var job = Guid.NewGuid();
        async Task Deliver(string webhookId)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, receiver.Url)
            {
                Content = new StringContent($$$"""{"type": "job.completed", "data": {"job_id": "{{{job}}}"}}""", System.Text.Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("webhook-id", webhookId);
            using var response = await http.SendAsync(request);
            response.EnsureSuccessStatusCode();
        }
        await Deliver("msg_1");
        await Deliver("msg_1"); // the sender died before recording the first: the same delivery again
        Assert.Equal(2, receiver.Receipts[("job.completed", job)]);
        Assert.Equal(1, receiver.DistinctReceipts[("job.completed", job)]);
        await Deliver("msg_2"); // a second webhook for the same event: a real duplicate
        Assert.Equal(2, receiver.DistinctReceipts[("job.completed", job)]);
    }
}
