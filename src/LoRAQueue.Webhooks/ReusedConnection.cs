using System.Net.Sockets;

namespace LoRAQueue.Webhooks;

/// <summary>
/// Tells a request that failed the way one fails on a pooled connection the receiver had closed. Receivers that close
/// after every response without saying so (an HTTP/1.0 answer with no <c>Connection</c> header, e.g. Python's
/// <c>http.server</c>) leave .NET a connection it believes reusable; the next request on it ends without an answer,
/// and .NET does not send a POST again itself. Which connection a request went out on cannot be known (a connection
/// opened for one request may serve another that was waiting), so any send that ended, or was reset, before an answer
/// is sent once more on a new connection; one that could not connect is not (a second connect fails the same way).
/// </summary>
internal static class ReusedConnection
{
    public static bool ClosedByReceiver(HttpRequestException e)
    {
        if (e.HttpRequestError == HttpRequestError.ResponseEnded) return true;
        for (Exception? current = e.InnerException; current is not null; current = current.InnerException)
            if (current is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown })
                return true;
        return false;
    }
}
