using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using LoRAQueue.Ucx;

namespace LoRAQueue.Bench.Transfer;

/// <summary>What a holder process tells the reader: how to reach its bytes over UCX and over a plain socket.</summary>
public sealed record HolderAnnouncement(string Worker, ulong Address, string Rkey, int SocketPort, string Sha256);

/// <summary>
/// The other process of `bench transfer`: <paramref name="size"/> random bytes in page-aligned native memory registered
/// with UCX (as a worker's host cache would hold an adapter), and the same bytes streamed to whoever connects to a TCP
/// socket. Announces itself as one JSON line on stdout and serves until its stdin closes.
/// </summary>
public static class TransferHolder
{
    public static async Task<int> RunAsync(long size, string? transports, TextReader input, TextWriter output)
    {
        using var bytes = new NativeBuffer(size);
        {
            new Random(1).NextBytes(bytes.Span);
            string sha = Convert.ToHexString(SHA256.HashData(bytes.Span));
            using var node = UcxNode.Create(TransferBench.Options(transports ?? ""));
            using var region = await node.RegisterAsync(bytes.Address, (nuint)size);
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            using var stop = new CancellationTokenSource();
            var serving = ServeSocketAsync(listener, bytes, stop.Token);
            output.WriteLine(JsonSerializer.Serialize(new HolderAnnouncement(Convert.ToHexString(node.WorkerAddress), (ulong)region.Address,
                Convert.ToHexString(region.PackedRkey), ((IPEndPoint)listener.LocalEndpoint).Port, sha)));
            output.Flush();
            await input.ReadToEndAsync(); // the reader closes our stdin when it is done
            await stop.CancelAsync();
            try { await serving; } catch (OperationCanceledException) { }
            return 0;
        }
    }

    private static async Task ServeSocketAsync(TcpListener listener, NativeBuffer bytes, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            using var client = await listener.AcceptTcpClientAsync(ct);
            await client.GetStream().WriteAsync(bytes.Memory, ct);
        }
    }
}
