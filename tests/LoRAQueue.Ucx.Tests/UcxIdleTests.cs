using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace LoRAQueue.Ucx.Tests;

/// <summary>Event-driven progress: a node with nothing to do blocks on its worker's event fd (almost no CPU), and wakes at
/// once when a peer asks it for bytes or a pull of its own starts.</summary>
public sealed class UcxIdleTests(ITestOutputHelper output)
{
    /// <summary>Two connected nodes holding a registered region, after one pull: as two idle workers are.</summary>
    /// <summary>Takes a pair down in the order its parts depend on each other.</summary>
    private static async Task DisposeAsync(UcxNode holder, UcxNode reader, NativeBuffer bytes, UcxRegion region, UcxPeer peer)
    {
        await peer.DisposeAsync();
        region.Dispose();
        reader.Dispose();
        holder.Dispose();
        ((IDisposable)bytes).Dispose();
    }

    private static async Task<(UcxNode Holder, UcxNode Reader, NativeBuffer Bytes, UcxRegion Region, UcxPeer Peer)> PairAsync(
        UcxOptions options, int size)
    {
        Assert.True(UcxNode.IsAvailable(out var reason), reason);
        var holder = UcxNode.Create(options);
        var reader = UcxNode.Create(options);
        Assert.True(holder.EventDriven, $"the node naps instead: {holder.NapReason}");
        Assert.True(reader.EventDriven, $"the node naps instead: {reader.NapReason}");
        var bytes = new NativeBuffer(size);
        new Random(5).NextBytes(bytes.Span);
        var region = await holder.RegisterAsync(bytes.Address, (nuint)size);
        var peer = await reader.ConnectAsync(holder.WorkerAddress);
        await peer.PullAsync((ulong)region.Address, new byte[4096]); // wired up both ways
        await peer.GetAsync((ulong)region.Address, region.PackedRkey, new byte[4096]);
        return (holder, reader, bytes, region, peer);
    }

    [Theory]
    [InlineData("tcp", true)]
    [InlineData("shm", false)]
    [InlineData("", true)] // UCX's own choice: what a worker uses by default
    public async Task An_idle_node_uses_almost_no_CPU(string transports, bool peerErrors)
    {
        var (holder, reader, bytes, region, peer) = await PairAsync(new UcxOptions(transports, peerErrors), 1 << 20);
        try
        {
            await Task.Delay(500); // past the spin after activity
            var window = TimeSpan.FromSeconds(2);
            TimeSpan holderBefore = ThreadCpu(holder), readerBefore = ThreadCpu(reader);
            var clock = Stopwatch.StartNew();
            await Task.Delay(window);
            TimeSpan holderUsed = ThreadCpu(holder) - holderBefore, readerUsed = ThreadCpu(reader) - readerBefore;
            output.WriteLine($"{transports}: progress threads used {holderUsed.TotalMilliseconds} ms (holder) and " +
                             $"{readerUsed.TotalMilliseconds} ms (reader) of CPU in {clock.Elapsed.TotalMilliseconds:F0} ms; " +
                             $"holder sleeps {holder.SleepCounts}");
            // Napping 1 ms at a time cost ~4 % of a core (80 ms in 2 s); spinning, all of it.
            Assert.True(holderUsed < TimeSpan.FromMilliseconds(50), $"the idle holder's progress thread used {holderUsed.TotalMilliseconds} ms");
            Assert.True(readerUsed < TimeSpan.FromMilliseconds(50), $"the idle reader's progress thread used {readerUsed.TotalMilliseconds} ms");
        }
        finally
        {
            await DisposeAsync(holder, reader, bytes, region, peer);
        }
    }

    [Theory]
    [InlineData("tcp", true)]
    [InlineData("shm", false)]
    [InlineData("", true)]
    public async Task Pulls_started_after_a_long_idle_complete_promptly(string transports, bool peerErrors)
    {
        // A backstop far longer than the wait below: only a real event can wake the sleeping holder and reader in time.
        var options = new UcxOptions(transports, peerErrors) { IdleBackstop = TimeSpan.FromSeconds(60) };
        const int size = 8 << 20; // rendezvous
        var (holder, reader, bytes, region, peer) = await PairAsync(options, size);
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(3)); // both asleep
            var (holderSleeps, _) = holder.SleepCounts;
            Assert.True(holderSleeps > 0, "the idle holder never blocked on its event fd");

            foreach (var (what, pull) in new (string, Func<byte[], Task>)[]
                     {
                         ("am", into => peer.PullAsync((ulong)region.Address, into)),
                         ("get", into => peer.GetAsync((ulong)region.Address, region.PackedRkey, into)),
                     })
            {
                var clock = Stopwatch.StartNew();
                var small = new byte[100];
                var first = pull(small);
                Assert.Same(first, await Task.WhenAny(first, Task.Delay(TimeSpan.FromSeconds(10))));
                await first;
                double smallMs = clock.Elapsed.TotalMilliseconds;
                Assert.True(bytes.Span[..100].SequenceEqual(small), $"{what}: the short pull differs");

                await Task.Delay(TimeSpan.FromSeconds(1)); // asleep again
                clock.Restart();
                var whole = new byte[size];
                var second = pull(whole);
                Assert.Same(second, await Task.WhenAny(second, Task.Delay(TimeSpan.FromSeconds(10))));
                await second;
                double wholeMs = clock.Elapsed.TotalMilliseconds;
                Assert.True(bytes.Span.SequenceEqual(whole), $"{what}: the pulled bytes differ");
                output.WriteLine($"{transports} {what} after idle: 100 B in {smallMs:F1} ms, {size >> 20} MB in {wholeMs:F1} ms");
                // Woken by events, not the 60 s backstop; generous for a loaded 2-core machine.
                Assert.True(smallMs < 2000 && wholeMs < 5000, $"{what}: {smallMs:F0} ms and {wholeMs:F0} ms after idle");
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
        }
        finally
        {
            await DisposeAsync(holder, reader, bytes, region, peer);
        }
    }

    [Fact]
    public void A_node_without_wakeup_naps_and_says_why()
    {
        Assert.True(UcxNode.IsAvailable(out var reason), reason);
        using var node = UcxNode.Create(new UcxOptions("tcp", Wakeup: false));
        Assert.False(node.EventDriven);
        Assert.Contains("turned off", node.NapReason);
    }

    [Fact]
    public async Task A_node_without_wakeup_still_serves_pulls()
    {
        Assert.True(UcxNode.IsAvailable(out var reason), reason);
        var options = new UcxOptions("tcp", Wakeup: false);
        using var holder = UcxNode.Create(options);
        using var reader = UcxNode.Create(options);
        using var bytes = new NativeBuffer(1 << 20);
        new Random(3).NextBytes(bytes.Span);
        using var region = await holder.RegisterAsync(bytes.Address, 1 << 20);
        await using var peer = await reader.ConnectAsync(holder.WorkerAddress);
        await Task.Delay(200);
        var whole = new byte[1 << 20];
        await peer.PullAsync((ulong)region.Address, whole).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(bytes.Span.SequenceEqual(whole));
    }

    /// <summary>The progress thread's user + system CPU time from /proc (clock ticks, 10 ms each).</summary>
    private static TimeSpan ThreadCpu(UcxNode node)
    {
        int tid = node.ProgressThreadId;
        Assert.NotEqual(0, tid);
        string stat = File.ReadAllText($"/proc/self/task/{tid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' '); // fields[0] is the state, field 3 of stat(5)
        long ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromMilliseconds(ticks * 10.0);
    }
}
