using LoRAQueue.History;

namespace LoRAQueue.Integration.Tests;

[Collection(PipelineCollection.Name)]
public sealed class RoutingTests(ModelFiles files)
{
    [Fact]
    public async Task Jobs_for_three_rank_buckets_wait_in_their_own_queues_and_are_served_by_the_workers_of_those_buckets()
    {
        await using var pipeline = await Pipeline.CreateAsync(files);
        var bucketOf = new Dictionary<string, int> { ["r8"] = 8, ["r32"] = 32, ["r128"] = 128 };
        var jobs = bucketOf.Keys.SelectMany(adapter => Enumerable.Range(0, 2).Select(i => pipeline.Job(adapter, $"Routed job {i} for {adapter}")))
            .ToList();

        // The topology step (what a deployment runs first) declares every rank queue with the workers' arguments…
        await pipeline.DeclareTopologyAsync();
        foreach (var queue in new[] { "lora-base", "lora-rank-8", "lora-rank-16", "lora-rank-32", "lora-rank-64", "lora-rank-128" })
            Assert.Equal(0u, await pipeline.QueueDepthAsync(queue));

        // …so jobs published before any worker exists wait in their bucket's queue instead of being dropped.
        foreach (var job in jobs) await pipeline.Intake.SubmitAsync(job);
        foreach (var bucket in bucketOf.Values) Assert.Equal(2u, await pipeline.QueueDepthAsync(Pipeline.QueueOf(bucket)));
        Assert.Equal(0u, await pipeline.QueueDepthAsync("lora-base"));
        var queued = await pipeline.History.GetAsync(jobs[0].JobId, CancellationToken.None);
        Assert.Equal(JobStatus.Queued, queued!.Status);

        foreach (var bucket in bucketOf.Values) await pipeline.StartWorkerAsync($"w{bucket}", bucket.ToString());
        var done = await pipeline.WaitForJobsAsync(jobs.Select(j => j.JobId).ToList(), JobStatus.Completed);

        foreach (var record in done)
        {
            int bucket = bucketOf[record.AdapterId!];
            Assert.Equal(bucket, record.RankBucket);
            Assert.Equal($"w{bucket}", record.Worker);
        }
    }
}
