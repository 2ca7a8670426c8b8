using System.Net;
using System.Net.Sockets;
using LoRAQueue.Contracts.Admission;

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

    /// <summary>The checks that need no DNS: the job admission rule's (<see cref="SubmitJobRules.CheckWebhookUrlSyntax"/>).</summary>
    internal static string? CheckSyntax(string? url, out Uri uri) => SubmitJobRules.CheckWebhookUrlSyntax(url, out uri);

    private static string Refused(string url, IPAddress address, string why) =>
        $"webhook URL '{url}' points at {address}, {why}; webhooks must reach a public address";
}
