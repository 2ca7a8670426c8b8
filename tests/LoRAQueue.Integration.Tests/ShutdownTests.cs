using LoRAQueue.History;
using Xunit.Abstractions;

namespace LoRAQueue.Integration.Tests;

[Collection(PipelineCollection.Name)]
public sealed class ShutdownTests(ModelFiles files, ITestOutputHelper output)
{
    [Fact]
    public async Task A_worker_stopped_with_sigterm_finishes_its_in_flight_jobs_and_exits_cleanly()
    {
        await using var pipeline = await Pipeline.CreateAsync(files);
        var worker = await pipeline.StartWorkerAsync("w-draining", "32", new Dictionary<string, string>
        {
            ["LORAQUEUE__WORKER__MAXSEQUENCES"] = "4",
            ["LORAQUEUE__WORKER__DRAINTIMEOUTSECONDS"] = "60",
        });
        var jobs = Enumerable.Range(0, 4).Select(i => pipeline.Job("r32", $"Drain job {i}", 450)).ToList();
        foreach (var job in jobs) await pipeline.Intake.SubmitAsync(job);
        await Eventually.WaitAsync(() => pipeline.History.GetAsync(jobs[0].JobId, CancellationToken.None),
            r => r is not null && r.Status != JobStatus.Queued, "the first job to start");

        worker.Terminate();
        Assert.Equal(0, await worker.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        // The drain path ran; on the tiny model the jobs may already be done by the time SIGTERM lands, so the count can
        // be 0 here (the out-of-drain-time test below proves jobs really in flight come back).
        Assert.Matches(@"stopping: [0-4] jobs in flight", worker.Output);

        var records = await pipeline.WaitForJobsAsync(jobs.Select(j => j.JobId).ToList(), JobStatus.Completed, TimeSpan.FromSeconds(5));
        Assert.All(records, r => Assert.Equal("w-draining", r.Worker));
        Assert.Equal(0u, await pipeline.QueueDepthAsync("lora-rank-32"));
        output.WriteLine(worker.Output);
    }

    [Fact]
    public async Task A_stopping_worker_out_of_drain_time_returns_unfinished_jobs_to_the_queue_for_another_worker()
    {
        await using var pipeline = await Pipeline.CreateAsync(files);
        var worker = await pipeline.StartWorkerAsync("w-impatient", "32", new Dictionary<string, string>
        {
            ["LORAQUEUE__WORKER__MAXSEQUENCES"] = "8",
            ["LORAQUEUE__WORKER__DRAINTIMEOUTSECONDS"] = "0.1",
        });
        var jobs = Enumerable.Range(0, 8).Select(i => pipeline.Job("r32", $"Long job {i}", 480)).ToList();
        foreach (var job in jobs) await pipeline.Intake.SubmitAsync(job);
        // Stop as soon as the broker has handed every job over (none ready, all unacknowledged): on the tiny model
        // the jobs would otherwise finish before the history shows them running.
        await Eventually.WaitAsync(() => pipeline.QueueDepthAsync("lora-rank-32"), depth => depth == 0, "every job to be delivered");

        var clock = System.Diagnostics.Stopwatch.StartNew();
        worker.Terminate();
        Assert.Equal(0, await worker.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        output.WriteLine($"exited after {clock.ElapsedMilliseconds} ms");
        output.WriteLine(worker.Output);
        // Never acknowledged, so back in the queue (once the worker's connection closed), and not in _error.
        var returnedCount = await pipeline.QueueDepthAsync("lora-rank-32");
        Assert.InRange(returnedCount, 1u, (uint)jobs.Count);
        Assert.Null(await pipeline.TakeAsync("lora-rank-32_error"));

        clock.Restart();
        await pipeline.StartWorkerAsync("w-next", "32");
        output.WriteLine($"next worker ready after {clock.ElapsedMilliseconds} ms");
        var records = await pipeline.WaitForJobsAsync(jobs.Select(j => j.JobId).ToList(), JobStatus.Completed, TimeSpan.FromSeconds(60));
        output.WriteLine($"all done after {clock.ElapsedMilliseconds} ms");
        Assert.Equal((int)returnedCount, records.Count(r => r.Worker == "w-next"));
    }
}
