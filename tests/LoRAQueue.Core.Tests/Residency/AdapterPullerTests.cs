using System.Security.Cryptography;
using LoRAQueue.Core.Residency;

namespace LoRAQueue.Core.Tests.Residency;

public sealed class AdapterPullerTests
{
    private static readonly byte[] Config = "{\"r\": 8}"u8.ToArray();
    private static readonly byte[] Weights = Enumerable.Range(0, 5000).Select(i => (byte)(i * 7)).ToArray();
    private static readonly PulledFile[] Files =
    [
        new("adapter_config.json", Config.Length, Convert.ToHexStringLower(SHA256.HashData(Config))),
        new("adapter_model.safetensors", Weights.Length, Convert.ToHexStringLower(SHA256.HashData(Weights))),
    ];
    private static readonly byte[] Bytes = [.. Config, .. Weights];

    private sealed class Source(PullSourceKind kind, string name, Func<Memory<byte>, CancellationToken, Task> read) : IPullSource
    {
        public int Reads { get; private set; }
        public PullSourceKind Kind => kind;
        public string Name => name;

        public Task ReadAsync(Memory<byte> destination, CancellationToken ct)
        {
            Reads++;
            return read(destination, ct);
        }
    }

    private static Source Good(PullSourceKind kind, string name) => new(kind, name, (d, _) => { Bytes.CopyTo(d); return Task.CompletedTask; });

    [Fact]
    public async Task The_first_source_that_delivers_intact_bytes_wins()
    {
        var buffer = new byte[Bytes.Length];
        var peer = Good(PullSourceKind.Peer, "w1");
        var store = Good(PullSourceKind.Store, "store");

        var outcome = await new AdapterPuller(TimeSpan.FromSeconds(5)).PullAsync(Files, [peer, store], buffer, CancellationToken.None);

        Assert.Equal((PullSourceKind.Peer, "w1"), (outcome.Kind, outcome.Source));
        Assert.Empty(outcome.Skipped);
        Assert.Equal(Bytes, buffer);
        Assert.Equal(0, store.Reads);
    }

    [Fact]
    public async Task A_peer_that_fails_hangs_or_serves_corrupt_bytes_is_skipped_for_the_next_and_then_the_store()
    {
        var buffer = new byte[Bytes.Length];
        var dead = new Source(PullSourceKind.Peer, "dead", (_, _) => Task.FromException(new IOException("connection reset by peer")));
        var hung = new Source(PullSourceKind.Peer, "hung", (_, ct) => Task.Delay(Timeout.Infinite, ct));
        var corrupt = new Source(PullSourceKind.Peer, "corrupt", (d, _) =>
        {
            Bytes.CopyTo(d);
            d.Span[^1] ^= 0xff;
            return Task.CompletedTask;
        });
        var store = Good(PullSourceKind.Store, "store");

        var outcome = await new AdapterPuller(TimeSpan.FromMilliseconds(200)).PullAsync(Files, [dead, hung, corrupt, store], buffer, CancellationToken.None);

        Assert.Equal((PullSourceKind.Store, "store"), (outcome.Kind, outcome.Source));
        Assert.Equal(Bytes, buffer);
        Assert.Collection(outcome.Skipped,
            s => Assert.Equal(("dead: connection reset by peer", PullSkipReason.Error), (s.ToString(), s.Reason)),
            s => Assert.Equal(("hung: no answer within 0.2 s", PullSkipReason.Timeout), (s.ToString(), s.Reason)),
            s => Assert.Equal(("corrupt: adapter_model.safetensors does not match its digest", PullSkipReason.DigestMismatch), (s.ToString(), s.Reason)));
    }

    [Fact]
    public async Task When_no_source_gives_the_registered_bytes_the_pull_fails_saying_why_for_each()
    {
        var corruptStore = new Source(PullSourceKind.Store, "store", (d, _) => { d.Span.Clear(); return Task.CompletedTask; });

        var failed = await Assert.ThrowsAsync<PullFailedException>(() =>
            new AdapterPuller(TimeSpan.FromSeconds(1)).PullAsync(Files, [corruptStore], new byte[Bytes.Length], CancellationToken.None));

        Assert.Equal(["store: adapter_config.json does not match its digest"], failed.Skipped.Select(s => s.ToString()));
    }

    [Fact]
    public async Task Concurrent_needs_for_one_adapter_share_one_pull()
    {
        var shared = new SharedPulls<string, PullOutcome>();
        var gate = new TaskCompletionSource();
        int pulls = 0;
        async Task<PullOutcome> Pull()
        {
            Interlocked.Increment(ref pulls);
            await gate.Task;
            return new PullOutcome(PullSourceKind.Peer, "w1", TimeSpan.Zero, []);
        }

        var first = shared.RunAsync("digest", Pull);
        var second = shared.RunAsync("digest", Pull);
        var other = shared.RunAsync("another", Pull);
        gate.SetResult();
        await Task.WhenAll(first, second, other);

        Assert.Equal(2, pulls); // one per adapter
        Assert.Equal(0, shared.InFlight);
        await shared.RunAsync("digest", Pull); // a later need pulls afresh
        Assert.Equal(3, pulls);
    }

    [Fact]
    public async Task A_peer_that_is_gone_is_skipped_as_unreachable()
    {
        var gone = new Source(PullSourceKind.Peer, "w9", (_, _) => throw new PeerUnreachableException("the peer failed: Connection refused"));

        var outcome = await new AdapterPuller(TimeSpan.FromSeconds(5)).PullAsync(Files, [gone, Good(PullSourceKind.Store, "store")],
                                                                                 new byte[Bytes.Length], CancellationToken.None);

        Assert.Equal(PullSkipReason.Unreachable, Assert.Single(outcome.Skipped).Reason);
    }

    [Fact]
    public async Task A_source_that_keeps_writing_after_being_given_up_on_abandons_the_buffer_instead_of_sharing_it()
    {
        var stubborn = new Source(PullSourceKind.Peer, "w1", (_, _) => Task.Delay(Timeout.Infinite, CancellationToken.None));
        var store = Good(PullSourceKind.Store, "store");

        var failed = await Assert.ThrowsAsync<PullFailedException>(() =>
            new AdapterPuller(TimeSpan.FromMilliseconds(100), stopGrace: TimeSpan.FromMilliseconds(100))
                .PullAsync(Files, [stubborn, store], new byte[Bytes.Length], CancellationToken.None));

        Assert.True(failed.BufferAbandoned);
        Assert.Equal(0, store.Reads); // the store never wrote where the stubborn peer still might
    }
}
