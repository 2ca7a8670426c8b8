using System.Net;
using System.Net.Sockets;

namespace LoRAQueue.Webhooks;

/// <summary>
/// Decides whether a webhook URL may be used: absolute http/https, no user-info, and a host whose every address is
/// public (see <see cref="WebhookOptions.AllowedHosts"/> and <see cref="WebhookOptions.AllowedNetworks"/> for the
/// exceptions). The dispatcher checks the address again when it connects, which defeats DNS rebinding.
/// </summary>
public sealed class WebhookUrlValidator(WebhookOptions options)
{
    private readonly AddressPolicy _policy = new(options);

    internal AddressPolicy Policy => _policy;

    /// <summary>Null when acceptable, otherwise a message a user can act on.</summary>
    public async Task<string?> ValidateAsync(string url, CancellationToken ct)
    {
        if (CheckSyntax(url, out var uri) is { } syntaxError) return syntaxError;
        string host = uri.IdnHost;
        if (IPAddress.TryParse(host.Trim('[', ']'), out var literal))
            return _policy.Refusal(literal) is { } why ? Refused(url, literal, why) : null;
        if (_policy.IsAllowedHost(host)) return null;

        IPAddress[] addresses;
        try
        {
            addresses = await Dns.GetHostAddressesAsync(host, ct);
        }
        catch (SocketException e)
        {
            return $"webhook URL host '{host}' does not resolve ({e.SocketErrorCode}); use a public DNS name or IP address";
        }
        if (addresses.Length == 0) return $"webhook URL host '{host}' has no addresses";
        foreach (var address in addresses)
            if (_policy.Refusal(address) is { } why)
                return $"webhook URL host '{host}' resolves to {address}, {why}; webhooks must reach a public address";
        return null;
    }

    /// <summary>The checks that need no DNS: absolute http(s) URL, a host, no user-info, no fragment.</summary>
    internal static string? CheckSyntax(string? url, out Uri uri)
    {
        uri = null!;
        if (string.IsNullOrWhiteSpace(url)) return "webhook URL is empty";
        if (url.Length > 2048) return "webhook URL is longer than 2048 characters";
        // On Unix "/x/y" parses as an absolute file: URI, so the scheme must also be what the text says.
        if (!Uri.TryCreate(url, UriKind.Absolute, out var parsed) || !url.StartsWith(parsed.Scheme + ":", StringComparison.OrdinalIgnoreCase))
            return $"webhook URL '{url}' is not an absolute URL";
        if (parsed.Scheme != Uri.UriSchemeHttp && parsed.Scheme != Uri.UriSchemeHttps)
            return $"webhook URL scheme '{parsed.Scheme}' is not allowed; use http or https";
        if (parsed.UserInfo.Length > 0) return "webhook URL must not contain a user name or password";
        if (string.IsNullOrEmpty(parsed.Host)) return $"webhook URL '{url}' has no host";
        if (parsed.Fragment.Length > 0) return "webhook URL must not contain a fragment (#…)";
        uri = parsed;
        return null;
    }

    private static string Refused(string url, IPAddress address, string why) =>
        $"webhook URL '{url}' points at {address}, {why}; webhooks must reach a public address";
}
