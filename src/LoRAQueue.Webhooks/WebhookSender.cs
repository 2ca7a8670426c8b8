using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;

namespace LoRAQueue.Webhooks;

/// <summary>
/// Sends one signed POST through the "webhooks" client of <see cref="IHttpClientFactory"/>, whose primary handler
/// (<see cref="CreateHandler"/>) follows no redirects, uses no proxy, and checks the address of every connection it opens
/// (a host that resolved to a public address at submission may resolve to a private one now: DNS rebinding). At most
/// <see cref="MaxErrorBodyBytes"/> of a response body are read. A send that fails because the receiver had closed the
/// pooled connection is sent again at once, within the same attempt, through <see cref="NewConnectionClientName"/>.
/// </summary>
internal sealed class WebhookSender(IHttpClientFactory clients, WebhookOptions options, TimeProvider time)
{
    public const string ClientName = "webhooks";

    /// <summary>The same settings, but a handler that keeps no connection (<see cref="CreateNewConnectionHandler"/>):
    /// each send opens a connection of its own.</summary>
    public const string NewConnectionClientName = "webhooks-new-connection";
    public const int MaxErrorBodyBytes = 1024;

    private readonly TimeSpan _timeout = options.Timeout;
    private readonly TimeProvider _time = time;

    /// <summary>The client's settings: no timeout of its own (each attempt has <see cref="WebhookOptions.Timeout"/>), our user agent.</summary>
    public static void ConfigureClient(HttpClient client)
    {
        client.Timeout = Timeout.InfiniteTimeSpan;
        client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("LoRAQueue-Webhooks", "1"));
    }

    /// <summary>The primary handler: no redirects, proxy, cookies or decompression; connect-time address check.</summary>
    public static SocketsHttpHandler CreateHandler(WebhookOptions options)
    {
        var policy = new AddressPolicy(options);
        return new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = options.Timeout,
            ConnectCallback = (context, ct) => ConnectCheckedAsync(policy, context, ct),
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            MaxResponseDrainSize = 64 * 1024,
            MaxResponseHeadersLength = 64, // KiB
        };
    }

    /// <summary>As <see cref="CreateHandler"/>, but a zero idle timeout: no connection is kept or handed to another
    /// request, so every send connects anew.</summary>
    public static SocketsHttpHandler CreateNewConnectionHandler(WebhookOptions options)
    {
        var handler = CreateHandler(options);
        handler.PooledConnectionIdleTimeout = TimeSpan.Zero;
        return handler;
    }

    /// <summary>One attempt. Never throws for the receiver's faults; throws only when <paramref name="stopping"/> fires.</summary>
    public async Task<AttemptOutcome> SendAsync(ClaimedDelivery delivery, CancellationToken stopping)
    {
        var at = _time.GetUtcNow();
        long started = _time.GetTimestamp();
        double Elapsed() => _time.GetElapsedTime(started).TotalMilliseconds;

        if (WebhookUrlValidator.CheckSyntax(delivery.Url, out var uri) is { } syntaxError)
            return new AttemptOutcome(at, null, 0, syntaxError, Retryable: false);
        if (string.IsNullOrEmpty(delivery.Secret))
            return new AttemptOutcome(at, null, 0,
                $"tenant '{delivery.Tenant}' has no webhook secret (no tenants row): the delivery cannot be signed", Retryable: false);
        // Current secret first; the previous one also signs while a rotation is in progress.
        List<string> secrets = [delivery.Secret];
        if (!string.IsNullOrEmpty(delivery.PreviousSecret)) secrets.Add(delivery.PreviousSecret);
        string signature;
        long timestamp = at.ToUnixTimeSeconds();
        try
        {
            signature = WebhookSignature.Sign(secrets, delivery.Id.ToString(), timestamp, delivery.Body);
        }
        catch (FormatException e)
        {
            return new AttemptOutcome(at, null, 0, $"tenant '{delivery.Tenant}' webhook secret is unusable: {e.Message}", Retryable: false);
        }

        HttpRequestMessage NewRequest()
        {
            var request = new HttpRequestMessage(HttpMethod.Post, uri)
            {
                Content = new StringContent(delivery.Body, Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("webhook-id", delivery.Id.ToString());
            request.Headers.Add("webhook-timestamp", timestamp.ToString(System.Globalization.CultureInfo.InvariantCulture));
            request.Headers.Add("webhook-signature", signature);
            return request;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        timeout.CancelAfter(_timeout);
        try
        {
            using var response = await PostAsync(NewRequest, timeout.Token);
            int code = (int)response.StatusCode;
            if (code is >= 200 and < 300) return new AttemptOutcome(at, code, Elapsed(), null);
            string excerpt = await ReadExcerptAsync(response, timeout.Token);
            string error = code is >= 300 and < 400
                ? $"HTTP {code}: redirects are not followed (Location: {response.Headers.Location})"
                : $"HTTP {code}{(excerpt.Length > 0 ? ": " + excerpt : "")}";
            return new AttemptOutcome(at, code, Elapsed(), error);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException)
        {
            return new AttemptOutcome(at, null, Elapsed(), $"timed out after {_timeout.TotalSeconds:0.###} s");
        }
        catch (HttpRequestException e)
        {
            return new AttemptOutcome(at, null, Elapsed(), Describe(e));
        }
    }

    /// <summary>Sends on a pooled connection and, when the receiver had closed it before answering, once more at once on
    /// a new one (same webhook-id, so receivers that dedupe see one delivery). Timeouts and answers are never resent.</summary>
    private async Task<HttpResponseMessage> PostAsync(Func<HttpRequestMessage> newRequest, CancellationToken ct)
    {
        using (var request = newRequest())
        {
            try
            {
                return await clients.CreateClient(ClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct);
            }
            catch (HttpRequestException e) when (ReusedConnection.ClosedByReceiver(e))
            {
            }
        }
        using var again = newRequest();
        return await clients.CreateClient(NewConnectionClientName).SendAsync(again, HttpCompletionOption.ResponseHeadersRead, ct);
    }

    private static async Task<string> ReadExcerptAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(ct);
            byte[] buffer = new byte[MaxErrorBodyBytes];
            int total = 0, read;
            while (total < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(total), ct)) > 0) total += read;
            return Encoding.UTF8.GetString(buffer, 0, total).ReplaceLineEndings(" ").Trim();
        }
        catch (Exception e) when (e is IOException or HttpRequestException)
        {
            return "";
        }
    }

    private static string Describe(HttpRequestException e)
    {
        var messages = new List<string>();
        for (Exception? current = e; current is not null; current = current.InnerException)
            if (!messages.Contains(current.Message)) messages.Add(current.Message);
        return string.Join(": ", messages);
    }

    /// <summary>Resolves the host and connects only to addresses the policy accepts (every address, for an
    /// AllowedHosts name). Refusing all of them fails the attempt with the reason.</summary>
    private static async ValueTask<Stream> ConnectCheckedAsync(AddressPolicy policy, SocketsHttpConnectionContext context, CancellationToken ct)
    {
        string host = context.DnsEndPoint.Host;
        IPAddress[] addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(host, ct);
        bool exempt = literal is null && policy.IsAllowedHost(host);
        var refusals = new List<string>();
        Exception? lastError = null;
        foreach (var address in addresses)
        {
            if (!exempt && policy.Refusal(address) is { } why)
            {
                refusals.Add($"{address} is {why}");
                continue;
            }
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                lastError = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        if (lastError is not null) throw new HttpRequestException($"could not connect to {host}: {lastError.Message}", lastError);
        throw new HttpRequestException(addresses.Length == 0
            ? $"{host} has no addresses"
            : $"refused to connect to {host}: {string.Join("; ", refusals)} (webhooks must reach a public address)");
    }
}
