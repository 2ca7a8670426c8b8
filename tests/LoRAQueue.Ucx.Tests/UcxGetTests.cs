namespace LoRAQueue.Ucx.Tests;

/// <summary>One-sided GETs between two UCX nodes (a context and worker each, as two processes would have) over real
/// transports: tcp, and shared memory.</summary>
public sealed class UcxGetTests
{
    [Theory]
    [InlineData("tcp", true)]
    [InlineData("shm", false)] // UCX 1.13's shared memory cannot detect a dead peer: reachable only without that mode
    public async Task A_peer_reads_a_registered_region_byte_for_byte(string transports, bool peerErrors)
    {
        Assert.True(UcxNode.IsAvailable(out var reason), reason);
        using var holder = UcxNode.Create(new UcxOptions(transports, peerErrors));
        using var reader = UcxNode.Create(new UcxOptions(transports, peerErrors));
        const int size = 8 << 20;
        using var bytes = new NativeBuffer(size);
        {
            new Random(7).NextBytes(bytes.Span);
            var source = bytes.Span.ToArray();
            using var region = await holder.RegisterAsync(bytes.Address, size);
            await using var peer = await reader.ConnectAsync(holder.WorkerAddress);

            var whole = new byte[size];
            await peer.GetAsync((ulong)region.Address, region.PackedRkey, whole);
            Assert.True(source.AsSpan().SequenceEqual(whole), "the whole region differs");

            var slice = new byte[1000];
            await peer.GetAsync((ulong)region.Address + 12345, region.PackedRkey, slice);
            Assert.True(source.AsSpan(12345, 1000).SequenceEqual(slice), "a slice at an offset differs");
        }
    }

    [Theory]
    [InlineData("tcp", true)]
    [InlineData("shm", false)]
    public async Task A_peer_pulls_a_range_by_active_message_and_a_range_outside_every_region_is_refused(string transports, bool peerErrors)
    {
        Assert.True(UcxNode.IsAvailable(out var reason), reason);
        using var holder = UcxNode.Create(new UcxOptions(transports, peerErrors));
        using var reader = UcxNode.Create(new UcxOptions(transports, peerErrors));
        const int size = 24 << 20; // large enough for rendezvous
        using var bytes = new NativeBuffer(size);
        new Random(11).NextBytes(bytes.Span);
        using var region = await holder.RegisterAsync(bytes.Address, size);
        await using var peer = await reader.ConnectAsync(holder.WorkerAddress);

        var whole = new byte[size];
        await peer.PullAsync((ulong)region.Address, whole);
        Assert.True(bytes.Span.SequenceEqual(whole), "the pulled bytes differ");
        var small = new byte[100];
        await peer.PullAsync((ulong)region.Address + 7, small); // eager: a short answer arrives whole
        Assert.True(bytes.Span.Slice(7, 100).SequenceEqual(small), "the short pull differs");

        var outside = await Assert.ThrowsAsync<UcxException>(() => peer.PullAsync((ulong)region.Address + size - 10, new byte[100]));
        Assert.Contains("does not serve that range", outside.Message);
    }

    [Fact]
    public async Task A_get_from_a_peer_that_died_after_connecting_fails_instead_of_hanging()
    {
        Assert.True(UcxNode.IsAvailable(out var reason), reason);
        using var reader = UcxNode.Create(new UcxOptions("tcp"));
        using var bytes = new NativeBuffer(1 << 20);
        var holder = UcxNode.Create(new UcxOptions("tcp"));
        var region = await holder.RegisterAsync(bytes.Address, 1 << 20);
        await using var peer = await reader.ConnectAsync(holder.WorkerAddress);
        await peer.GetAsync((ulong)region.Address, region.PackedRkey, new byte[4096]); // connected and served

        region.Dispose();
        holder.Dispose(); // the holder's worker and context are gone: as a process killed mid-pull

        var get = peer.GetAsync((ulong)region.Address, region.PackedRkey, new byte[1 << 20]);
        Assert.Same(get, await Task.WhenAny(get, Task.Delay(TimeSpan.FromSeconds(30))));
        await Assert.ThrowsAsync<UcxException>(() => get);
        var pull = peer.PullAsync((ulong)region.Address, new byte[1 << 20]);
        Assert.Same(pull, await Task.WhenAny(pull, Task.Delay(TimeSpan.FromSeconds(30))));
        await Assert.ThrowsAsync<UcxException>(() => pull);
    }

    [Fact]
    public async Task Connecting_to_a_worker_that_is_gone_fails()
    {
        Assert.True(UcxNode.IsAvailable(out var reason), reason);
        using var reader = UcxNode.Create(new UcxOptions("tcp"));
        byte[] address;
        using (var holder = UcxNode.Create(new UcxOptions("tcp"))) address = holder.WorkerAddress;
        await Assert.ThrowsAsync<UcxException>(() => reader.ConnectAsync(address));
    }
}
