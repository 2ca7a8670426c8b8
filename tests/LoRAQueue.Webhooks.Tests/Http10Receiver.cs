using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace LoRAQueue.Webhooks.Tests;

/// <summary>
/// A receiver that answers as Python's <c>http.server</c> does by default: <c>HTTP/1.0 200 OK</c> with Server, Date and
/// Content-Length but no Connection header, then closes the socket after <see cref="CloseDelay"/> (the handler thread
/// finishing late). .NET keeps such a connection in its pool, so a request sent on it before the close ends without a
/// response. Raw sockets, so nothing is added to or taken from the exchange.
/// </summary>
public sealed class Http10Receiver : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _connections;

    public Http10Receiver(TimeSpan closeDelay, bool answer = true)
    {
        CloseDelay = closeDelay;
        Answer = answer;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public TimeSpan CloseDelay { get; }

    /// <summary>False: read the request and close without a response (a receiver that crashes mid-request).</summary>
    public bool Answer { get; }

    public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/hooks/lora";

    /// <summary>The webhook-id of every request read, in order.</summary>
    public ConcurrentQueue<string> Ids { get; } = new();

    public int Connections => Volatile.Read(ref _connections);

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var socket = await _listener.AcceptSocketAsync(_stop.Token);
                Interlocked.Increment(ref _connections);
                _ = Task.Run(() => ServeOneAsync(socket));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>One request per connection, as HTTP/1.0 without keep-alive means.</summary>
    private async Task ServeOneAsync(Socket socket)
    {
        using (socket)
        {
            try
            {
                string? id = await ReadRequestAsync(socket);
                if (id is null) return;
                Ids.Enqueue(id);
                if (Answer)
                {
                    string response = "HTTP/1.0 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.7\r\n"
                                      + $"Date: {DateTime.UtcNow:R}\r\nContent-Length: 2\r\n\r\nok";
                    await socket.SendAsync(Encoding.ASCII.GetBytes(response), SocketFlags.None);
                }
                await Task.Delay(CloseDelay, _stop.Token);
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
            }
        }
    }

    /// <summary>Reads the head and the Content-Length body; returns the webhook-id, or null when the client went away.</summary>
    private static async Task<string?> ReadRequestAsync(Socket socket)
    {
        var buffer = new List<byte>();
        var chunk = new byte[4096];
        int headEnd;
        while ((headEnd = IndexOfBlankLine(buffer)) < 0)
        {
            int read = await socket.ReceiveAsync(chunk, SocketFlags.None);
            if (read == 0) return null;
            buffer.AddRange(chunk.AsSpan(0, read));
        }
        string[] lines = Encoding.ASCII.GetString(buffer.ToArray(), 0, headEnd).Split("\r\n");
        string? Header(string name) => lines.Skip(1).Select(l => l.Split(':', 2))
            .FirstOrDefault(p => p.Length == 2 && p[0].Trim().Equals(name, StringComparison.OrdinalIgnoreCase))?[1].Trim();
        int length = int.Parse(Header("Content-Length") ?? "0");
        while (buffer.Count < headEnd + 4 + length)
        {
            int read = await socket.ReceiveAsync(chunk, SocketFlags.None);
            if (read == 0) return null;
            buffer.AddRange(chunk.AsSpan(0, read));
        }
        return Header("webhook-id") ?? "";
    }

    private static int IndexOfBlankLine(List<byte> bytes)
    {
        for (int i = 0; i + 3 < bytes.Count; i++)
            if (bytes[i] == '\r' && bytes[i + 1] == '\n' && bytes[i + 2] == '\r' && bytes[i + 3] == '\n') return i;
        return -1;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
