using Microsoft.Extensions.Configuration;

namespace LoRAQueue.Webhooks.Tests;

public sealed class OptionsTests
{
    private static WebhookOptions Read(params (string Key, string Value)[] settings) => WebhookOptions.From(
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => KeyValuePair.Create("LoRAQueue:Webhooks:" + s.Key, (string?)s.Value))).Build());

    [Fact]
    public void Defaults_follow_Standard_Webhooks_and_span_more_than_a_day()
    {
        var options = Read();
        Assert.Equal(new[] { "00:00:05", "00:05:00", "00:30:00", "02:00:00", "05:00:00", "10:00:00", "10:00:00" },
                     options.RetrySchedule.Select(d => d.ToString()));
        Assert.True(options.RetrySchedule.Aggregate(TimeSpan.Zero, (a, b) => a + b) > TimeSpan.FromDays(1));
        Assert.Equal(TimeSpan.FromSeconds(10), options.Timeout);
        Assert.Equal(8, options.MaxConcurrentDeliveries);
        Assert.Empty(options.AllowedNetworks);
    }

    [Fact]
    public void Reads_lists_and_durations_in_either_form()
    {
        var options = Read(("RetrySchedule", "5s, 5m,30m,2h,1d,250ms,00:00:03"), ("AllowedNetworks:0", "127.0.0.0/8"),
                           ("AllowedNetworks:1", "::1/128"), ("AllowedHosts", "hooks.internal,relay.internal"),
                           ("Timeout", "3s"), ("PollInterval", "100ms"), ("MaxConcurrentDeliveries", "2"));
        Assert.Equal([TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30), TimeSpan.FromHours(2),
                      TimeSpan.FromDays(1), TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(3)], options.RetrySchedule);
        Assert.Equal(["127.0.0.0/8", "::1/128"], options.AllowedNetworks);
        Assert.Equal(["hooks.internal", "relay.internal"], options.AllowedHosts);
        Assert.Equal(TimeSpan.FromSeconds(3), options.Timeout);
        Assert.Equal(TimeSpan.FromMilliseconds(100), options.PollInterval);
        Assert.Equal(2, options.MaxConcurrentDeliveries);
    }

    [Theory]
    [InlineData("RetrySchedule", "5s,soon", "LoRAQueue:Webhooks:RetrySchedule 'soon' is not a duration")]
    [InlineData("RetrySchedule", "-5s", "LoRAQueue:Webhooks:RetrySchedule '-5s' is not a duration")]
    [InlineData("Timeout", "0s", "LoRAQueue:Webhooks:Timeout must be positive")]
    [InlineData("MaxConcurrentDeliveries", "0", "LoRAQueue:Webhooks:MaxConcurrentDeliveries must be at least 1")]
    [InlineData("MaxConcurrentDeliveries", "eight", "LoRAQueue:Webhooks:MaxConcurrentDeliveries 'eight' is not an integer")]
    [InlineData("AllowedNetworks", "127.0.0.1/40", "LoRAQueue:Webhooks:AllowedNetworks '127.0.0.1/40' is not a CIDR")]
    public void Bad_settings_fail_naming_the_key(string key, string value, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => Read((key, value)));
        Assert.StartsWith(message, error.Message);
    }
}
