using System.Net.Sockets;

namespace LoRAQueue.Webhooks;

/// <summary>
/// Tells a request that failed because the receiver closed the pooled connection it was sent on. Receivers that close
/// after every response without saying so (an HTTP/1.0 answer with no <c>Connection</c> header, e.g. Python's
/// <c>http.server</c>) leave .NET a connection it believes reusable; the next request on it ends without an answer,
/// and .NET does not send a POST again itself.
/// </summary>
internal static class ReusedConnection
{
    /// <summary>Set by the connect callback on the request whose send opened a connection.</summary>
    private static readonly HttpRequestOptionsKey<bool> OpenedConnection = new("LoRAQueue.Webhooks.OpenedConnection");

    public static void MarkOpened(HttpRequestMessage request) => request.Options.Set(OpenedConnection, true);

    /// <summary>True when <paramref name="request"/> opened no connection (so it went out on a pooled one) and failed
    /// the way a connection closed by the peer fails: ended, reset or broken before any response.</summary>
    public static bool ClosedByReceiver(HttpRequestMessage request, HttpRequestException e)
    {
        if (request.Options.TryGetValue(OpenedConnection, out bool opened) && opened) return false;
        if (e.HttpRequestError is HttpRequestError.ResponseEnded or HttpRequestError.ConnectionError) return true;
        for (Exception? current = e.InnerException; current is not null; current = current.InnerException)
            if (current is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown })
                return true;
        return false;
    }
}
