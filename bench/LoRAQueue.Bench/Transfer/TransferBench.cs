using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using LoRAQueue.Ucx;

namespace LoRAQueue.Bench.Transfer;

public sealed record TransferCase(string Transport, long SizeBytes, double PullMs, double Gbps);

/// <summary>`bench transfer`: the bounds (memcpy in this process, a plain TCP stream between the two processes) and the
/// pulls over UCX, all measured in the same run.</summary>
public sealed record TransferReport(double MemcpyGbps, double SocketGbps, IReadOnlyList<TransferCase> Cases, string UcxVersion);

/// <summary>
/// Pulls adapter-sized byte ranges from another process with UCX GETs — over <c>tcp</c>, and over shared memory
/// (<c>shm</c>: posix or sysv segments, cma) — and compares them with memcpy and a plain socket stream between the
/// same two processes. Each figure is the median of <see cref="Repeats"/> pulls after a warm-up; every pulled copy is
/// checked against the holder's SHA-256.
/// </summary>
public sealed class TransferBench(Func<long, string, Process> startHolder, IProgress<string> progress)
{
    public const int Repeats = 3;
    public static readonly long[] DefaultSizes = [1L << 20, 16L << 20, 128L << 20, 512L << 20];
    /// <summary>(UCX_TLS, how): one-sided GET, or the holder sending by active message (rendezvous) on request.</summary>
    public static readonly (string Transport, string Method)[] Ways = [("tcp", "get"), ("tcp", "am"), ("shm", "get"), ("shm", "am")];

    public async Task<TransferReport> RunAsync(IReadOnlyList<long> sizes)
    {
        long largest = sizes.Max();
        double memcpy = Memcpy(largest);
        progress.Report($"memcpy {largest >> 20} MB: {memcpy:F2} GB/s");
        double socket = 0;
        var cases = new List<TransferCase>();
        foreach (var (transport, method) in Ways)
            foreach (var size in sizes)
            {
                using var holder = startHolder(size, transport);
                try
                {
                    var announced = JsonSerializer.Deserialize<HolderAnnouncement>(await holder.StandardOutput.ReadLineAsync()
                        ?? throw new InvalidOperationException($"the holder exited: {await holder.StandardError.ReadToEndAsync()}"))!;
                    double ms = await PullAsync(announced, size, transport, method);
                    cases.Add(new TransferCase($"{transport} {method}", size, ms, Gbps(size, ms)));
                    progress.Report($"{transport} {method,-4} {size >> 20,4} MB: {ms,8:F1} ms  {Gbps(size, ms),6:F2} GB/s");
                    if (transport == "tcp" && method == "get" && size == largest)
                    {
                        double socketMs = await SocketAsync(announced.SocketPort, size);
                        socket = Gbps(size, socketMs);
                        progress.Report($"socket   {size >> 20,4} MB: {socketMs,8:F1} ms  {socket,6:F2} GB/s");
                    }
                }
                finally
                {
                    holder.StandardInput.Close();
                    await holder.WaitForExitAsync();
                }
            }
        return new TransferReport(memcpy, socket, cases, UcxNode.Version);
    }

    private static async Task<double> PullAsync(HolderAnnouncement holder, long size, string transport, string method)
    {
        using var node = UcxNode.Create(Options(transport));
        await using var peer = await node.ConnectAsync(Convert.FromHexString(holder.Worker));
        byte[] rkey = Convert.FromHexString(holder.Rkey);
        var destination = GC.AllocateUninitializedArray<byte>(checked((int)size), pinned: true);
        Task Pull(Memory<byte> into) => method == "am" ? peer.PullAsync(holder.Address, into) : peer.GetAsync(holder.Address, rkey, into);
        await Pull(destination.AsMemory(0, 4096)); // wire-up and rkey unpack, not timed
        var times = new List<double>();
        for (int i = 0; i < Repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            await Pull(destination);
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        string sha = Convert.ToHexString(SHA256.HashData(destination));
        if (sha != holder.Sha256) throw new InvalidDataException($"pulled bytes over {transport} do not match the holder's SHA-256");
        return Median(times);
    }

    private static async Task<double> SocketAsync(int port, long size)
    {
        var buffer = GC.AllocateUninitializedArray<byte>(checked((int)size), pinned: true);
        var times = new List<double>();
        for (int i = 0; i < Repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", port);
            var stream = client.GetStream();
            int total = 0, read;
            while (total < size && (read = await stream.ReadAsync(buffer.AsMemory(total))) > 0) total += read;
            times.Add(clock.Elapsed.TotalMilliseconds);
            if (total != size) throw new IOException($"the socket gave {total} of {size} bytes");
        }
        return Median(times);
    }

    private static unsafe double Memcpy(long size)
    {
        using var source = new NativeBuffer(size);
        using var target = new NativeBuffer(size);
        source.Span.Fill(1);
        target.Span.Clear(); // touch every page before timing
        var times = new List<double>();
        for (int i = 0; i < Repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            Buffer.MemoryCopy((void*)source.Address, (void*)target.Address, size, size);
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        return Gbps(size, Median(times));
    }

    /// <summary>Shared memory has no peer-failure detection in UCX 1.13 (see <see cref="UcxOptions.PeerErrors"/>).</summary>
    public static UcxOptions Options(string transport) => new(transport, PeerErrors: !transport.StartsWith("shm", StringComparison.Ordinal));

    private static double Gbps(long bytes, double ms) => bytes / (ms / 1000) / 1e9;

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);
}
