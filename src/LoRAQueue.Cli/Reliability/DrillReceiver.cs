using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace LoRAQueue.Cli.Reliability;

/// <summary>
/// The drill's webhook receiver, independent of the product's code: a raw TCP server that answers each request the way
/// Python's http.server does — <c>HTTP/1.0 200 OK</c> without a Connection header, then closes — the receiver shape that
/// once failed a third of first attempts. Counts successful receipts per (event type, job or batch id).
/// </summary>
internal sealed class DrillReceiver : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public DrillReceiver()
    {
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/hooks";

    /// <summary>While true the receiver is "down": it accepts each connection and resets it without reading or answering, so
    /// every send fails and is retried later (the cluster bench's webhook-receiver-down fault).</summary>
    public volatile bool Down;

    /// <summary>Connections refused while <see cref="Down"/>.</summary>
    public int Refused => Volatile.Read(ref _refused);
    private int _refused;

    /// <summary>(type, subject id) → receipts.</summary>
    public ConcurrentDictionary<(string Type, Guid Subject), int> Receipts { get; } = new();

    /// <summary>(type, subject id) → the distinct webhook-id headers received: a delivery sent again under the same id (its
    /// sender died before recording the first) is one webhook to a receiver that deduplicates by webhook-id.</summary>
    public ConcurrentDictionary<(string Type, Guid Subject), ConcurrentDictionary<string, byte>> WebhookIds { get; } = new();

    /// <summary>Receipts counted once per webhook-id.</summary>
    public IReadOnlyDictionary<(string Type, Guid Subject), int> DistinctReceipts =>
        Receipts.ToDictionary(r => r.Key, r => WebhookIds.TryGetValue(r.Key, out var ids) && ids.Count > 0 ? ids.Count : r.Value);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (OperationCanceledException) { return; }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            if (Down)
            {
                Interlocked.Increment(ref _refused);
                client.Client.LingerState = new LingerOption(true, 0); // close with a reset: the sender sees a failed attempt
                return;
            }
            try
            {
                var stream = client.GetStream();
                var (headers, body) = await ReadRequestAsync(stream);
                if (headers is null) return;
                Record(headers, body);
                await stream.WriteAsync("HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11\r\nContent-Length: 0\r\n\r\n"u8.ToArray());
            }
            catch (IOException)
            {
            }
        }
    }

    private void Record(string headers, string body)
    {
        var json = JsonNode.Parse(body);
        string type = (string?)json?["type"] ?? "?";
        var data = json?["data"];
        var subject = (string?)data?["job_id"] ?? (string?)data?["batch_id"];
        if (!Guid.TryParse(subject, out var id)) return;
        Receipts.AddOrUpdate((type, id), 1, (_, n) => n + 1);
        string? webhookId = headers.Split("\r\n").Select(l => l.Split(':', 2))
            .FirstOrDefault(p => p.Length == 2 && p[0].Trim().Equals("webhook-id", StringComparison.OrdinalIgnoreCase))?[1].Trim();
        if (webhookId is not null) WebhookIds.GetOrAdd((type, id), _ => new())[webhookId] = 0;
    }

    /// <summary>The header block and a Content-Length body; null headers when the peer closed first.</summary>
    private static async Task<(string? Headers, string Body)> ReadRequestAsync(NetworkStream stream)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int headerEnd = -1;
        while (headerEnd < 0)
        {
            int read = await stream.ReadAsync(chunk);
            if (read == 0) return (null, "");
            buffer.Write(chunk, 0, read);
            headerEnd = IndexOf(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), "\r\n\r\n"u8);
        }
        string headers = Encoding.ASCII.GetString(buffer.GetBuffer(), 0, headerEnd);
        int length = headers.Split("\r\n").Select(l => l.Split(':', 2)).Where(p => p.Length == 2 && p[0].Trim().Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            .Select(p => int.Parse(p[1].Trim(), System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
        int bodyStart = headerEnd + 4;
        while (buffer.Length - bodyStart < length)
        {
            int read = await stream.ReadAsync(chunk);
            if (read == 0) break;
            buffer.Write(chunk, 0, read);
        }
        return (headers, Encoding.UTF8.GetString(buffer.GetBuffer(), bodyStart, (int)buffer.Length - bodyStart));
    }

    private static int IndexOf(ReadOnlySpan<byte> haystack, ReadOnlySpan<byte> needle) => haystack.IndexOf(needle);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try { await _accepting; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
