namespace LoRAQueue.Webhooks.Tests;

public sealed class UrlValidatorTests
{
    private static readonly WebhookUrlValidator Strict = new(new WebhookOptions());

    [Theory]
    [InlineData("http://169.254.169.254/latest/meta-data/", "link-local")]
    [InlineData("http://10.0.0.1/", "private")]
    [InlineData("http://172.16.5.4/", "private")]
    [InlineData("http://192.168.1.1/", "private")]
    [InlineData("http://100.64.0.1/", "CGNAT")]
    [InlineData("http://127.0.0.1/", "loopback")]
    [InlineData("http://0.0.0.0/", "unspecified")]
    [InlineData("http://224.0.0.1/", "multicast")]
    [InlineData("http://[::1]/", "loopback")]
    [InlineData("http://[::]/", "unspecified")]
    [InlineData("http://[fd00::1]/", "unique local")]
    [InlineData("http://[fe80::1]/", "link-local")]
    [InlineData("http://[::ffff:10.0.0.1]/", "IPv4-mapped")]
    [InlineData("http://[::ffff:127.0.0.1]/", "loopback")]
    [InlineData("http://[64:ff9b::a9fe:a9fe]/", "link-local")] // NAT64 form of 169.254.169.254
    [InlineData("http://2130706433/", "loopback")]             // 127.0.0.1 as one decimal number
    public async Task Refuses_addresses_that_are_not_public(string url, string reason)
    {
        string? error = await Strict.ValidateAsync(url, CancellationToken.None);
        Assert.NotNull(error);
        Assert.Contains(reason, error);
    }

    [Theory]
    [InlineData("ftp://example.com/hook", "scheme 'ftp'")]
    [InlineData("file:///etc/passwd", "scheme 'file'")]
    [InlineData("https://user:pass@93.184.216.34/hook", "user name or password")]
    [InlineData("https://user@93.184.216.34/hook", "user name or password")]
    [InlineData("/relative/hook", "not an absolute URL")]
    [InlineData("", "empty")]
    [InlineData("https://93.184.216.34/hook#frag", "fragment")]
    public async Task Refuses_malformed_urls(string url, string reason)
    {
        string? error = await Strict.ValidateAsync(url, CancellationToken.None);
        Assert.NotNull(error);
        Assert.Contains(reason, error);
    }

    [Theory]
    [InlineData("https://93.184.216.34/")]
    [InlineData("http://93.184.216.34:8080/hooks?x=1")]
    [InlineData("https://[2606:2800:220:1:248:1893:25c8:1946]/hook")]
    public async Task Accepts_public_ip_literals_without_dns(string url)
    {
        Assert.Null(await Strict.ValidateAsync(url, CancellationToken.None));
    }

    [Fact]
    public async Task A_host_name_that_resolves_to_a_private_address_is_refused()
    {
        string? error = await Strict.ValidateAsync("http://localhost:8080/hook", CancellationToken.None);
        Assert.NotNull(error);
        Assert.Contains("'localhost' resolves to", error);
        Assert.Contains("loopback", error);
    }

    [Fact]
    public async Task A_host_name_that_does_not_resolve_is_refused()
    {
        string? error = await Strict.ValidateAsync("https://no-such-host.invalid/hook", CancellationToken.None);
        Assert.NotNull(error);
        Assert.Contains("does not resolve", error);
    }

    [Fact]
    public async Task Allowed_networks_and_hosts_lift_the_rule_only_for_themselves()
    {
        var validator = new WebhookUrlValidator(new WebhookOptions { AllowedNetworks = ["127.0.0.0/8"], AllowedHosts = ["hooks.internal"] });
        Assert.Null(await validator.ValidateAsync("http://127.0.0.1:9000/", CancellationToken.None));
        Assert.Null(await validator.ValidateAsync("http://[::ffff:127.0.0.1]:9000/", CancellationToken.None));
        Assert.Null(await validator.ValidateAsync("https://HOOKS.internal/x", CancellationToken.None)); // no DNS for allowed hosts
        Assert.NotNull(await validator.ValidateAsync("http://10.0.0.1/", CancellationToken.None));
        Assert.NotNull(await validator.ValidateAsync("http://[::1]/", CancellationToken.None));
    }

    [Fact]
    public void A_bad_allowed_network_is_refused_at_construction()
    {
        var error = Assert.Throws<ArgumentException>(() => new WebhookUrlValidator(new WebhookOptions { AllowedNetworks = ["10.0.0.0/33"] }));
        Assert.Contains("AllowedNetworks", error.Message);
        Assert.Contains("10.0.0.0/33", error.Message);
    }
}
