using LoRAQueue.Contracts;

namespace LoRAQueue.History.Tests;

/// <summary>How any IJobHistory records events: idempotent, in any order, never moving a job back.</summary>
public abstract class JobHistoryRecordingTests
{
    protected abstract IJobHistory History { get; }

    private static readonly CancellationToken Ct = CancellationToken.None;

    [Fact]
    public async Task Queued_job_is_recorded_with_what_the_submission_says()
    {
        var job = JobEvents.New();
        await History.RecordQueuedAsync(job.Submit, rankBucket: 16, Ct);

        var record = await History.GetAsync(job.JobId, Ct);
        Assert.NotNull(record);
        Assert.Equal(JobStatus.Queued, record.Status);
        Assert.Equal((job.Tenant, "support-bot", 16), (record.Tenant, record.AdapterId, record.RankBucket));
        Assert.Equal("Summarise the ticket", record.Prompt);
        Assert.Equal("https://client.example/hooks/jobs", record.WebhookUrl);
        Assert.Equal("T-17", record.Metadata!["ticket"]);
        Assert.Equal(JobEvents.Epoch, record.SubmittedAt);
        Assert.Null(record.StartedAt);
        Assert.Null(record.CompletedAt);
        Assert.Equal(TimeSpan.Zero, record.UpdatedAt.Offset);
    }

    [Fact]
    public async Task Many_queued_jobs_are_recorded_in_one_write_without_moving_a_started_one_back()
    {
        var jobs = Enumerable.Range(0, 300).Select(_ => JobEvents.New()).ToList();
        var started = jobs[7];
        await History.RecordStartedAsync(started.Started(), Ct); // its worker's event won the race
        var plain = jobs[8].Submit with { AdapterId = null, WebhookUrl = null, Metadata = null, CustomId = null };

        await History.RecordQueuedAsync([.. jobs.Select((j, i) => new QueuedJobRecord(i == 8 ? plain : j.Submit, i == 8 ? null : 16))], Ct);

        foreach (var (job, i) in jobs.Select((j, i) => (j, i)))
        {
            var record = (await History.GetAsync(job.JobId, Ct))!;
            Assert.Equal(i == 7 ? JobStatus.Running : JobStatus.Queued, record.Status);
            Assert.Equal(i == 8 ? null : 16, record.RankBucket);
            Assert.Equal(i == 8 ? null : "T-17", record.Metadata?["ticket"]);
            Assert.Equal("Summarise the ticket", record.Prompt);
        }
    }

    [Fact]
    public async Task The_trace_id_is_the_first_sampled_span_a_write_ran_in_and_is_kept()
    {
        using var source = new System.Diagnostics.ActivitySource("LoRAQueue.Tests.History");
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s == source,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> o) =>
                o.Name == "unsampled" ? System.Diagnostics.ActivitySamplingResult.PropagationData
                    : System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        var gatewayTraced = JobEvents.New();
        var workerTraced = JobEvents.New();
        string gatewayTrace, workerTrace;
        using (var request = source.StartActivity("request"))
        {
            gatewayTrace = request!.TraceId.ToHexString();
            await History.RecordQueuedAsync(gatewayTraced.Submit, 16, Ct);
        }
        await History.RecordQueuedAsync(workerTraced.Submit, 16, Ct); // no span: tracing was off where it was submitted
        using (source.StartActivity("unsampled")) await History.RecordStartedAsync(workerTraced.Started(), Ct); // not recorded: ignored
        using (var consume = source.StartActivity("consume"))
        {
            workerTrace = consume!.TraceId.ToHexString();
            await History.RecordStartedAsync(gatewayTraced.Started(), Ct);
            await History.RecordCompletedAsync(workerTraced.Completed(), Ct);
        }
        await History.RecordCompletedAsync(gatewayTraced.Completed(), Ct);

        Assert.Equal(gatewayTrace, (await History.GetAsync(gatewayTraced.JobId, Ct))!.TraceId);
        Assert.Equal(workerTrace, (await History.GetAsync(workerTraced.JobId, Ct))!.TraceId);
        Assert.Matches("^[0-9a-f]{32}$", workerTrace);
    }

    [Fact]
    public async Task Full_lifecycle_keeps_every_events_fields()
    {
        var job = JobEvents.New();
        await History.RecordQueuedAsync(job.Submit, 16, Ct);
        await History.RecordStartedAsync(job.Started(), Ct);
        await History.RecordCompletedAsync(job.Completed(), Ct);

        var record = await History.GetAsync(job.JobId, Ct);
        Assert.NotNull(record);
        Assert.Equal(JobStatus.Completed, record.Status);
        Assert.Equal("Summarise the ticket", record.Prompt);                       // from the submission
        Assert.Equal(JobEvents.Epoch.AddMilliseconds(250), record.StartedAt);      // from JobStarted
        Assert.Equal(JobEvents.Epoch.AddMilliseconds(380), record.CompletedAt);    // from JobCompleted
        Assert.Equal(("The customer wants a refund.", 5, 7, "eos", "worker-a"),
                     (record.OutputText, record.PromptTokens, record.OutputTokens, record.FinishReason, record.Worker));
        Assert.Equal((250d, 3d, 40d, 12.5d, 380d), (record.QueueMs, record.WaitMs, record.TtftMs, record.TpotMs, record.TotalMs));
        Assert.Equal(("peer", 85.25), (record.AdapterSource, record.AdapterLoadMs));
        Assert.Null(record.ErrorCode);
    }

    [Fact]
    public async Task The_adapter_load_is_recorded_from_JobCompleted_and_absent_for_base_jobs_and_before_completion()
    {
        var adapted = JobEvents.New();
        await History.RecordStartedAsync(adapted.Started(), Ct);
        var running = await History.GetAsync(adapted.JobId, Ct);
        Assert.Equal((null, null), (running!.AdapterSource, running.AdapterLoadMs));

        await History.RecordCompletedAsync(adapted.Completed() with { AdapterLoad = new AdapterLoad("store", 1234.5) }, Ct);
        var completed = await History.GetAsync(adapted.JobId, Ct);
        Assert.Equal(("store", 1234.5), (completed!.AdapterSource, completed.AdapterLoadMs));

        var baseJob = JobEvents.New(adapterId: null, rankBucket: null);
        await History.RecordCompletedAsync(baseJob.Completed(), Ct);
        var record = await History.GetAsync(baseJob.JobId, Ct);
        Assert.Equal((JobStatus.Completed, null, null), (record!.Status, record.AdapterSource, record.AdapterLoadMs));

        var failed = JobEvents.New();
        await History.RecordFailedAsync(failed.Failed(FailureReasons.UnknownAdapter), Ct);
        Assert.Null((await History.GetAsync(failed.JobId, Ct))!.AdapterSource);
    }

    [Fact]
    public async Task A_redelivered_completed_fills_a_missing_adapter_load_but_never_replaces_one()
    {
        // The first delivery came from a worker that did not report the load (older, or it did not know).
        var job = JobEvents.New();
        await History.RecordCompletedAsync(job.Completed() with { AdapterLoad = null }, Ct);
        var without = await History.GetAsync(job.JobId, Ct);
        Assert.Null(without!.AdapterSource);

        await History.RecordCompletedAsync(job.Completed("a re-run's answer", worker: "worker-b") with { AdapterLoad = new AdapterLoad("host", 2.5) }, Ct);
        var filled = await History.GetAsync(job.JobId, Ct);
        JobAssert.Same(without with { AdapterSource = "host", AdapterLoadMs = 2.5, UpdatedAt = filled!.UpdatedAt }, filled);

        await History.RecordCompletedAsync(job.Completed() with { AdapterLoad = new AdapterLoad("store", 900) }, Ct);
        JobAssert.Same(filled, await History.GetAsync(job.JobId, Ct));

        // A late JobStarted (it knows nothing of the load) keeps it too.
        await History.RecordStartedAsync(job.Started(), Ct);
        var record = await History.GetAsync(job.JobId, Ct);
        Assert.Equal((JobStatus.Completed, "host", 2.5), (record!.Status, record.AdapterSource, record.AdapterLoadMs));
    }

    [Fact]
    public async Task Failed_job_records_the_reason()
    {
        var job = JobEvents.New();
        await History.RecordQueuedAsync(job.Submit, 16, Ct);
        await History.RecordFailedAsync(job.Failed(), Ct);

        var record = await History.GetAsync(job.JobId, Ct);
        Assert.NotNull(record);
        Assert.Equal(JobStatus.Failed, record.Status);
        Assert.Equal(FailureReasons.PromptTooLong, record.ErrorCode);
        Assert.Equal("prompt has 9000 tokens; the model takes 2048", record.ErrorMessage);
        Assert.Equal(JobEvents.Epoch.AddMilliseconds(300), record.CompletedAt);
        Assert.Null(record.OutputText);
    }

    [Fact]
    public async Task Redelivered_started_changes_nothing()
    {
        var job = JobEvents.New();
        await History.RecordStartedAsync(job.Started(), Ct);
        var first = await History.GetAsync(job.JobId, Ct);

        await History.RecordStartedAsync(job.Started(worker: "worker-b"), Ct);

        JobAssert.Same(first!, await History.GetAsync(job.JobId, Ct));
    }

    [Fact]
    public async Task Redelivered_completed_changes_nothing_even_with_other_output()
    {
        var job = JobEvents.New();
        await History.RecordStartedAsync(job.Started(), Ct);
        await History.RecordCompletedAsync(job.Completed("first answer"), Ct);
        var first = await History.GetAsync(job.JobId, Ct);

        await History.RecordCompletedAsync(job.Completed("a re-run's answer", worker: "worker-b"), Ct);

        JobAssert.Same(first!, await History.GetAsync(job.JobId, Ct));
        Assert.Equal("first answer", first!.OutputText);
    }

    [Fact]
    public async Task Late_started_after_completed_adds_its_prompt_and_keeps_the_status_and_the_workers_figures()
    {
        // A raw AMQP producer's prompt reaches the history only with JobStarted; JobCompleted may be recorded first.
        var job = JobEvents.New();
        await History.RecordCompletedAsync(job.Completed(), Ct);
        var completed = await History.GetAsync(job.JobId, Ct);
        Assert.Null(completed!.Prompt);

        await History.RecordStartedAsync(job.Started(worker: "worker-b") with { StartedAt = job.SubmittedAt.AddSeconds(9) }, Ct);

        var record = await History.GetAsync(job.JobId, Ct);
        Assert.Equal(JobStatus.Completed, record!.Status);
        Assert.Equal("Summarise the ticket", record.Prompt);
        JobAssert.Same(completed with { Prompt = "Summarise the ticket", UpdatedAt = record.UpdatedAt }, record);
        Assert.True(record.UpdatedAt >= completed.UpdatedAt);
    }

    [Fact]
    public async Task Late_started_after_failed_adds_its_prompt_and_keeps_the_failure()
    {
        var job = JobEvents.New();
        await History.RecordFailedAsync(job.Failed(FailureReasons.EngineError), Ct);

        await History.RecordStartedAsync(job.Started(), Ct);

        var record = await History.GetAsync(job.JobId, Ct);
        Assert.Equal((JobStatus.Failed, FailureReasons.EngineError, "Summarise the ticket"), (record!.Status, record.ErrorCode, record.Prompt));
    }

    [Fact]
    public async Task Every_character_is_stored_as_given_including_U0000()
    {
        // The byte-fallback token <0x00> decodes to U+0000, which no Postgres text column can hold.
        var job = JobEvents.New();
        const string prompt = "nul \0 in the prompt, and \u00e9\u6f22\U0001F600 beside it";
        const string output = "\0\0 model output with \0 bytes\0";
        var metadata = new Dictionary<string, string> { ["k\0ey"] = "va\0lue" };
        await History.RecordStartedAsync(job.Started() with { Prompt = prompt, Metadata = metadata }, Ct);
        await History.RecordCompletedAsync(job.Completed(output) with { Metadata = metadata }, Ct);

        var record = await History.GetAsync(job.JobId, Ct);
        Assert.Equal((JobStatus.Completed, prompt, output), (record!.Status, record.Prompt, record.OutputText));
        Assert.Equal("va\0lue", record.Metadata!["k\0ey"]);

        var failed = JobEvents.New();
        await History.RecordFailedAsync(failed.Failed(FailureReasons.InvalidRequest) with { Message = "stop string \"\0\" is invalid" }, Ct);
        Assert.Equal("stop string \"\0\" is invalid", (await History.GetAsync(failed.JobId, Ct))!.ErrorMessage);
    }

    [Fact]
    public async Task A_refused_jobs_failure_is_recorded_even_when_its_ids_hold_U0000()
    {
        // The rules refuse U+0000 in ids; the worker's JobFailed for such a job still carries what it was sent.
        var job = JobEvents.New() with { AdapterId = "bad\0adapter" };
        await History.RecordFailedAsync(job.Failed(FailureReasons.UnknownAdapter) with { CustomId = "line\01" }, Ct);

        var record = await History.GetAsync(job.JobId, Ct);
        Assert.Equal(JobStatus.Failed, record!.Status);
        Assert.Equal(FailureReasons.UnknownAdapter, record.ErrorCode);
        Assert.StartsWith("bad", record.AdapterId); // Postgres keeps it with U+FFFD for the NUL
    }

    [Fact]
    public async Task First_terminal_event_wins()
    {
        var completedFirst = JobEvents.New();
        await History.RecordCompletedAsync(completedFirst.Completed(), Ct);
        await History.RecordFailedAsync(completedFirst.Failed(), Ct);
        var a = await History.GetAsync(completedFirst.JobId, Ct);
        Assert.Equal((JobStatus.Completed, (string?)null), (a!.Status, a.ErrorCode));

        var failedFirst = JobEvents.New();
        await History.RecordFailedAsync(failedFirst.Failed(), Ct);
        await History.RecordCompletedAsync(failedFirst.Completed(), Ct);
        var b = await History.GetAsync(failedFirst.JobId, Ct);
        Assert.Equal((JobStatus.Failed, (string?)null), (b!.Status, b.OutputText));
    }

    [Fact]
    public async Task Queued_recorded_after_the_worker_started_does_not_move_it_back()
    {
        // The gateway records "queued" after publishing; a fast worker can get there first.
        var job = JobEvents.New();
        await History.RecordStartedAsync(job.Started(), Ct);
        var running = await History.GetAsync(job.JobId, Ct);

        await History.RecordQueuedAsync(job.Submit, 16, Ct);

        JobAssert.Same(running!, await History.GetAsync(job.JobId, Ct));
    }

    [Fact]
    public async Task Completed_as_the_first_event_creates_the_job()
    {
        var job = JobEvents.New(adapterId: null, rankBucket: null);
        await History.RecordCompletedAsync(job.Completed(), Ct);

        var record = await History.GetAsync(job.JobId, Ct);
        Assert.Equal(JobStatus.Completed, record!.Status);
        Assert.Null(record.AdapterId);
        Assert.Null(record.Prompt);
        Assert.Equal(job.Tenant, record.Tenant);
    }

    [Fact]
    public async Task Concurrent_redeliveries_leave_exactly_one_row_in_its_final_state()
    {
        var job = JobEvents.New();
        var deliveries = Enumerable.Range(0, 24).Select(i => (i % 3) switch
        {
            0 => History.RecordQueuedAsync(job.Submit, 16, Ct),
            1 => History.RecordStartedAsync(job.Started(), Ct),
            _ => History.RecordCompletedAsync(job.Completed(), Ct),
        });
        await Task.WhenAll(deliveries);

        var page = await History.ListAsync(new JobQuery(Tenant: job.Tenant), Ct);
        var only = Assert.Single(page.Items);
        Assert.Equal(JobStatus.Completed, only.Status);
        Assert.Equal("The customer wants a refund.", only.OutputText);
    }

    [Fact]
    public async Task Timestamps_are_kept_in_utc_to_the_microsecond()
    {
        var local = new DateTimeOffset(2025, 6, 1, 14, 30, 0, TimeSpan.FromHours(2)).AddTicks(1_234_567); // 123456.7 µs
        var job = JobEvents.New(submittedAt: local);
        await History.RecordQueuedAsync(job.Submit, null, Ct);

        var record = await History.GetAsync(job.JobId, Ct);
        Assert.Equal(TimeSpan.Zero, record!.SubmittedAt.Offset);
        Assert.Equal(new DateTimeOffset(2025, 6, 1, 12, 30, 0, TimeSpan.Zero).AddTicks(1_234_560), record.SubmittedAt);
    }

    [Fact]
    public async Task Stored_metadata_does_not_follow_later_changes_to_the_callers_dictionary()
    {
        var job = JobEvents.New();
        var submit = job.Submit;
        await History.RecordQueuedAsync(submit, 16, Ct);
        submit.Metadata!["ticket"] = "changed";

        Assert.Equal("T-17", (await History.GetAsync(job.JobId, Ct))!.Metadata!["ticket"]);
    }

    [Fact]
    public async Task Unknown_job_is_null()
    {
        Assert.Null(await History.GetAsync(Guid.NewGuid(), Ct));
    }

    [Fact]
    public async Task Event_without_a_job_id_is_refused()
    {
        var job = JobEvents.New() with { JobId = Guid.Empty };
        await Assert.ThrowsAsync<ArgumentException>(() => History.RecordStartedAsync(job.Started(), Ct));
    }
}

public sealed class InMemoryJobHistoryRecordingTests : JobHistoryRecordingTests
{
    protected override IJobHistory History { get; } = new InMemoryJobHistory();
}

public sealed class PostgresJobHistoryRecordingTests(PostgresDatabaseFixture db)
    : JobHistoryRecordingTests, IClassFixture<PostgresDatabaseFixture>
{
    protected override IJobHistory History { get; } = new PostgresJobHistory(db.Database.DataSource);
}
