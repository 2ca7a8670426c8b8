using LoRAQueue.History;
using Xunit.Abstractions;

namespace LoRAQueue.Integration.Tests;

[Collection(PipelineCollection.Name)]
public sealed class RecoveryTests(ModelFiles files, ITestOutputHelper output)
{
    private const int LongJobTokens = 400;

    [Fact]
    public async Task A_worker_killed_in_the_middle_of_a_batch_loses_no_job_and_another_worker_finishes_each_exactly_once()
    {
        await using var pipeline = await Pipeline.CreateAsync(files);
        var doomed = await pipeline.StartWorkerAsync("w-doomed", "8", new Dictionary<string, string> { ["LORAQUEUE__WORKER__MAXSEQUENCES"] = "4" });

        var jobs = Enumerable.Range(0, 8).Select(i => pipeline.Job("r8", $"Job number {i} keeps the batch busy", LongJobTokens)).ToList();
        foreach (var job in jobs) await pipeline.Intake.SubmitAsync(job);

        // Kill as soon as the doomed worker has a batch running: its jobs are delivered but not acknowledged.
        var running = await Eventually.WaitAsync(() => ListAsync(pipeline),
            rs => rs.Any(r => r.Status == JobStatus.Running && r.Worker == "w-doomed"), "the doomed worker to start jobs");
        await doomed.KillAsync();
        var interrupted = (await ListAsync(pipeline)).Where(r => r.Status == JobStatus.Running).Select(r => r.JobId).ToHashSet();
        output.WriteLine($"killed with {interrupted.Count} jobs running; statuses: {string.Join(", ", (await ListAsync(pipeline)).Select(r => r.Status))}");
        Assert.NotEmpty(interrupted);

        await pipeline.StartWorkerAsync("w-rescuer", "8");
        var done = await pipeline.WaitForJobsAsync(jobs.Select(j => j.JobId).ToList(), JobStatus.Completed, TimeSpan.FromSeconds(60));

        var all = await ListAsync(pipeline);
        Assert.Equal(jobs.Count, all.Count);                 // one row per job: nothing duplicated, nothing invented
        Assert.All(all, r => Assert.Equal(JobStatus.Completed, r.Status));
        Assert.All(interrupted, id => Assert.Equal("w-rescuer", done.Single(r => r.JobId == id).Worker));
        Assert.Equal(0u, await pipeline.QueueDepthAsync("lora-rank-8"));
        Assert.Null(await pipeline.TakeAsync("lora-rank-8_error"));
        foreach (var r in done) output.WriteLine($"{r.JobId} {r.Worker} {r.OutputTokens} tokens {r.TotalMs:F0} ms");
    }

    private static async Task<IReadOnlyList<JobRecord>> ListAsync(Pipeline pipeline) =>
        (await pipeline.History.ListAsync(new JobQuery(Limit: 100), CancellationToken.None)).Items;
}
