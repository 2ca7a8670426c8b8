using System.Net;
using System.Net.Sockets;

namespace LoRAQueue.Webhooks;

/// <summary>
/// Which IP addresses a webhook may reach: public unicast only, unless an allowed network covers the address.
/// Shared by the submission-time validator and the connect-time check, so both apply the same rules.
/// </summary>
internal sealed class AddressPolicy
{
    private static readonly (IPNetwork Network, string What)[] Refused =
    [
        (IPNetwork.Parse("0.0.0.0/8"), "an unspecified ('this network') address"),
        (IPNetwork.Parse("10.0.0.0/8"), "a private address"),
        (IPNetwork.Parse("100.64.0.0/10"), "a carrier-grade NAT (CGNAT) address"),
        (IPNetwork.Parse("127.0.0.0/8"), "a loopback address"),
        (IPNetwork.Parse("169.254.0.0/16"), "a link-local address"),
        (IPNetwork.Parse("172.16.0.0/12"), "a private address"),
        (IPNetwork.Parse("192.0.0.0/24"), "an IETF protocol assignment address"),
        (IPNetwork.Parse("192.0.2.0/24"), "a documentation address"),
        (IPNetwork.Parse("192.168.0.0/16"), "a private address"),
        (IPNetwork.Parse("198.18.0.0/15"), "a benchmarking address"),
        (IPNetwork.Parse("198.51.100.0/24"), "a documentation address"),
        (IPNetwork.Parse("203.0.113.0/24"), "a documentation address"),
        (IPNetwork.Parse("224.0.0.0/4"), "a multicast address"),
        (IPNetwork.Parse("240.0.0.0/4"), "a reserved or broadcast address"),
        (IPNetwork.Parse("::/128"), "the unspecified address"),
        (IPNetwork.Parse("::1/128"), "a loopback address"),
        (IPNetwork.Parse("::/96"), "an IPv4-compatible address"),
        (IPNetwork.Parse("100::/64"), "a discard-only address"),
        (IPNetwork.Parse("2001:db8::/32"), "a documentation address"),
        (IPNetwork.Parse("fc00::/7"), "a unique local (private) address"),
        (IPNetwork.Parse("fe80::/10"), "a link-local address"),
        (IPNetwork.Parse("fec0::/10"), "a site-local address"),
        (IPNetwork.Parse("ff00::/8"), "a multicast address"),
    ];

    private static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");
    private static readonly IPNetwork SixToFour = IPNetwork.Parse("2002::/16");

    private readonly IPNetwork[] _allowedNetworks;
    private readonly HashSet<string> _allowedHosts;

    public AddressPolicy(WebhookOptions options)
    {
        options.Validate();
        _allowedNetworks = options.AllowedNetworks.Select(n => IPNetwork.Parse(n)).ToArray();
        _allowedHosts = new HashSet<string>(options.AllowedHosts.Select(h => h.Trim().TrimEnd('.')), StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Whether <paramref name="host"/> (a DNS name) is listed in AllowedHosts.</summary>
    public bool IsAllowedHost(string host) => _allowedHosts.Contains(host.TrimEnd('.'));

    /// <summary>Null when the address may be reached, else what kind of address it is ("a private address").</summary>
    public string? Refusal(IPAddress address)
    {
        if (IsAllowedNetwork(address)) return null;
        // Forms that embed an IPv4 address are judged by that address: ::ffff:10.0.0.1 is 10.0.0.1.
        if (address.IsIPv4MappedToIPv6) return Refusal(address.MapToIPv4()) is { } mapped ? $"{mapped} (IPv4-mapped)" : null;
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && (Nat64.Contains(address) || SixToFour.Contains(address)))
        {
            var embedded = EmbeddedIPv4(address, Nat64.Contains(address));
            if (Refusal(embedded) is { } inner) return $"{inner} (embedded in {address})";
        }
        foreach (var (network, what) in Refused)
            if (network.BaseAddress.AddressFamily == address.AddressFamily && network.Contains(address))
                return $"{what} ({network})";
        return null;
    }

    private bool IsAllowedNetwork(IPAddress address)
    {
        foreach (var network in _allowedNetworks)
        {
            if (network.BaseAddress.AddressFamily == address.AddressFamily && network.Contains(address)) return true;
            if (address.IsIPv4MappedToIPv6 && network.BaseAddress.AddressFamily == AddressFamily.InterNetwork
                && network.Contains(address.MapToIPv4())) return true;
        }
        return false;
    }

    /// <summary>NAT64 (64:ff9b::a.b.c.d) keeps the IPv4 address in the last 32 bits, 6to4 (2002:aabb:ccdd::) in bits 16–47.</summary>
    private static IPAddress EmbeddedIPv4(IPAddress address, bool nat64)
    {
        byte[] bytes = address.GetAddressBytes();
        return nat64 ? new IPAddress(bytes.AsSpan(12, 4)) : new IPAddress(bytes.AsSpan(2, 4));
    }
}
