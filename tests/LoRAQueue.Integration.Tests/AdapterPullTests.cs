using LoRAQueue.Contracts;
using LoRAQueue.Formats;
using LoRAQueue.History;
using LoRAQueue.LoadState;
using LoRAQueue.Messaging;
using LoRAQueue.Testing;
using LoRAQueue.Ucx;
using MassTransit;
using Xunit.Abstractions;

namespace LoRAQueue.Integration.Tests;

/// <summary>
/// The adapter data plane between worker processes on the real servers: workers pull adapters from each other's host
/// caches over UCX (tcp here), find them through the holder directory in Redis, check every byte against the registered
/// digest, and fall back to the next holder and then the store when a peer dies, lies or is gone.
/// </summary>
[Collection(PipelineCollection.Name)]
public sealed class AdapterPullTests(ModelFiles files, ITestOutputHelper output)
{
    private static readonly TimeSpan JobTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Worker processes talk UCX over tcp: the transport every machine has, and the one that reports a dead peer.</summary>
    private static Dictionary<string, string> Ucx(string? store = null, double pullTimeoutSeconds = 30)
    {
        var env = new Dictionary<string, string>
        {
            ["UCX_TLS"] = "tcp",
            ["LORAQUEUE__WORKER__PULLTIMEOUTSECONDS"] = pullTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (store is not null) env["LORAQUEUE__ADAPTERSTORE__PATH"] = store;
        return env;
    }

    [Fact]
    public async Task A_worker_that_cannot_read_the_store_pulls_the_adapter_from_the_peer_that_holds_it_and_a_placement_pulls_before_it_consumes()
    {
        Assert.True(UcxNode.IsAvailable(out var reason), reason);
        await using var fleet = await Fleet.CreateAsync(files);
        var pipeline = fleet.Pipeline;
        var holder = await pipeline.StartWorkerAsync("holder-a", "8,32", Ucx());
        await HoldAsync(fleet, holder, "r8", "r32");

        var empty = Directory.CreateTempSubdirectory("loraqueue-empty-store-").FullName;
        var puller = await pipeline.StartWorkerAsync("puller-b", "8", Ucx(store: empty));
        var jobs = Enumerable.Range(0, 3).Select(_ => pipeline.Job("r8")).ToList();
        foreach (var job in jobs) await pipeline.Intake.SubmitAsync(job);
        var done = await pipeline.WaitForJobsAsync([.. jobs.Select(j => j.JobId)], JobStatus.Completed, JobTimeout);

        Assert.All(done, r => Assert.Equal("puller-b", r.Worker));
        Assert.Contains(done, r => r.AdapterSource == "peer"); // the job that waited for the pull
        Assert.All(done, r => Assert.Contains(r.AdapterSource, new[] { "peer", "active" }));
        await puller.WaitForOutputAsync("Pulled adapter r8", TimeSpan.FromSeconds(5));
        Assert.Contains("from holder-a", puller.Output);

        // A placement that gives B rank 32: B pulls r32 from A before it consumes lora-rank-32.
        await SendPlacementAsync(pipeline, new PlacementCommand
        {
            Epoch = 1, Worker = "puller-b", LoadAdapters = ["r32"], StartQueues = [Pipeline.QueueOf(32)], RankQueues = [8, 32], Policy = "test",
        });
        await puller.WaitForOutputAsync($"Consuming {Pipeline.QueueOf(32)}", JobTimeout);
        var lines = puller.Output.Split(Environment.NewLine);
        int resident = Array.FindIndex(lines, l => l.Contains("r32 resident (from peer", StringComparison.Ordinal));
        int consuming = Array.FindIndex(lines, l => l.Contains($"Consuming {Pipeline.QueueOf(32)}", StringComparison.Ordinal));
        Assert.True(resident >= 0 && resident < consuming, $"r32 must be pulled from the peer before lora-rank-32 is consumed{Environment.NewLine}{puller.Output}");

        var r32 = pipeline.Job("r32");
        await pipeline.Intake.SubmitAsync(r32);
        var record = await pipeline.WaitForJobAsync(r32.JobId, JobStatus.Completed, JobTimeout);
        Assert.Equal(("puller-b", "active"), (record.Worker, record.AdapterSource));
        output.WriteLine(puller.Output);
    }

    [Fact]
    public async Task A_holder_killed_in_the_middle_of_a_pull_sends_the_puller_to_the_store_and_every_job_completes_once()
    {
        Assert.True(UcxNode.IsAvailable(out var reason), reason);
        await using var fleet = await Fleet.CreateAsync(files);
        var pipeline = fleet.Pipeline;
        var holder = await pipeline.StartWorkerAsync("holder-a", "8", Ucx());
        await HoldAsync(fleet, holder, "r8");

        var puller = await pipeline.StartWorkerAsync("puller-b", "8", Ucx());
        holder.Freeze(); // B's pull goes out and waits for an answer that never comes…
        var jobs = Enumerable.Range(0, 4).Select(_ => pipeline.Job("r8")).ToList();
        foreach (var job in jobs) await pipeline.Intake.SubmitAsync(job);
        await puller.WaitForOutputAsync("Pulling adapter r8", JobTimeout);
        await Task.Delay(TimeSpan.FromMilliseconds(300)); // the request is on the wire
        await holder.KillAsync(); // …until A dies under it

        var done = await pipeline.WaitForJobsAsync([.. jobs.Select(j => j.JobId)], JobStatus.Completed, JobTimeout);
        Assert.All(done, r => Assert.Equal("puller-b", r.Worker));
        Assert.Contains(done, r => r.AdapterSource == "store");
        Assert.Contains("Skipped peer holder-a for adapter r8 (unreachable)", puller.Output);
        await Eventually.UntilAsync(() => Task.FromResult(jobs.All(j => fleet.Completions.CountOf(j.JobId) == 1)),
            "one JobCompleted per job", TimeSpan.FromSeconds(10));
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.All(jobs, j => Assert.Equal(1, fleet.Completions.CountOf(j.JobId)));
        output.WriteLine(puller.Output);
    }

    [Fact]
    public async Task Peers_that_serve_other_bytes_or_are_gone_are_skipped_for_the_one_that_serves_the_registered_bytes()
    {
        Assert.True(UcxNode.IsAvailable(out var reason), reason);
        await using var fleet = await Fleet.CreateAsync(files);
        var pipeline = fleet.Pipeline;
        var holder = await pipeline.StartWorkerAsync("holder-a", "8", Ucx());
        var digest = await HoldAsync(fleet, holder, "r8");
        var registered = await pipeline.Registry.GetFilesAsync("r8", CancellationToken.None);
        long bytes = registered!.Sum(f => f.Size);

        // A liar: a UCX node of this test process serving the right number of bytes, all wrong, advertised as a holder…
        using var liar = UcxNode.Create(new UcxOptions("tcp"));
        using var garbage = new NativeBuffer(bytes);
        garbage.Span.Fill(0x5a);
        using var region = await liar.RegisterAsync(garbage.Address, (nuint)bytes);
        await AdvertiseAsync(fleet, "a-liar", digest, bytes, liar.WorkerAddress, (ulong)region.Address, region.PackedRkey);
        // …and a holder record left behind by a worker that is gone.
        byte[] deadAddress;
        using (var dead = UcxNode.Create(new UcxOptions("tcp"))) deadAddress = dead.WorkerAddress;
        await AdvertiseAsync(fleet, "a-gone", digest, bytes, deadAddress, 4096, region.PackedRkey);

        var empty = Directory.CreateTempSubdirectory("loraqueue-empty-store-").FullName;
        var puller = await pipeline.StartWorkerAsync("puller-b", "8", Ucx(store: empty, pullTimeoutSeconds: 10));
        var job = pipeline.Job("r8");
        await pipeline.Intake.SubmitAsync(job);
        var record = await pipeline.WaitForJobAsync(job.JobId, JobStatus.Completed, JobTimeout);

        Assert.Equal(("puller-b", "peer"), (record.Worker, record.AdapterSource));
        Assert.Contains("Skipped peer a-liar for adapter r8 (digest_mismatch)", puller.Output);
        Assert.Contains("Skipped peer a-gone for adapter r8 (unreachable)", puller.Output);
        Assert.Contains("from holder-a", puller.Output);
        // …and the event the gateway's metrics count says the same.
        var pulled = await Eventually.WaitAsync(() => Task.FromResult(fleet.Completions.Pulls.FirstOrDefault(p => p.Worker == "puller-b")),
            p => p is not null, "puller-b's AdapterPulled event", TimeSpan.FromSeconds(10));
        Assert.Equal(("peer", "holder-a", "job"), (pulled!.Source, pulled.From, pulled.Cause));
        Assert.Equal([("a-gone", "unreachable"), ("a-liar", "digest_mismatch")], pulled.Skipped.Select(s => (s.Source, s.Reason)));
        output.WriteLine(puller.Output);
    }

    /// <summary>Has <paramref name="holder"/> run a job per adapter (so its host cache holds them), waits until Redis lists
    /// it as their holder, then has it stop consuming (a placement), so that later jobs go to other workers.</summary>
    private static async Task<string> HoldAsync(Fleet fleet, WorkerProcess holder, params string[] adapters)
    {
        var pipeline = fleet.Pipeline;
        string digest = "";
        foreach (var adapter in adapters)
        {
            var job = pipeline.Job(adapter);
            await pipeline.Intake.SubmitAsync(job);
            var done = await pipeline.WaitForJobAsync(job.JobId, JobStatus.Completed, JobTimeout);
            Assert.Equal((holder.Id, "store"), (done.Worker, done.AdapterSource));
            digest = (await pipeline.Registry.GetAsync(adapter, CancellationToken.None))!.Digest!;
            var d = digest;
            await Eventually.UntilAsync(async () => (await fleet.LoadState.GetHoldersAsync(d)).Any(h => h.Worker == holder.Id),
                $"{holder.Id} to advertise {adapter}", TimeSpan.FromSeconds(10), () => holder.Output);
        }
        await SendPlacementAsync(pipeline, new PlacementCommand
        {
            Epoch = 1, Worker = holder.Id, StopQueues = [.. adapters.Select(a => Pipeline.QueueOf(ModelFiles.AdapterRanks[a]))], Policy = "test",
        });
        foreach (var adapter in adapters)
            await holder.WaitForOutputAsync($"Stopped consuming {Pipeline.QueueOf(ModelFiles.AdapterRanks[adapter])}", JobTimeout);
        return digest;
    }

    private static async Task SendPlacementAsync(Pipeline pipeline, PlacementCommand command)
    {
        var endpoint = await pipeline.Bus.GetSendEndpoint(PlacementTopology.SendAddress(command.Worker));
        await endpoint.Send(command with { IssuedAt = DateTimeOffset.UtcNow });
    }

    private static async Task AdvertiseAsync(Fleet fleet, string worker, string digest, long size, byte[] address, ulong remote, byte[] rkey)
    {
        await fleet.LoadState.WriteHeartbeatAsync(new WorkerHeartbeat { Worker = worker, JobsInEngine = 0, At = DateTimeOffset.UtcNow },
                                                  TimeSpan.FromMinutes(2));
        await fleet.LoadState.AdvertiseAsync(new AdapterHolder
        {
            Worker = worker, Digest = digest, SizeBytes = size, UcxAddress = address, RemoteAddress = remote, PackedRkey = rkey,
        });
    }
}
