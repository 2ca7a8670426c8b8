using LoRAQueue.Hosting;
using LoRAQueue.Testing;

namespace LoRAQueue.Gateway.Tests;

/// <summary>Gateway settings come through the options pattern: a bad one stops the host (exit 2) with one line naming the key.</summary>
public sealed class SettingsTests
{
    [Theory]
    [InlineData("LoRAQueue:Gateway:MaxTokens=0", "LoRAQueue:Gateway:MaxTokens must be ≥ 1 (got 0)")]
    [InlineData("LoRAQueue:Gateway:MaxBodyBytes=lots", "LoRAQueue:Gateway:MaxBodyBytes must be a whole number (got 'lots')")]
    [InlineData("LoRAQueue:Gateway:MaxAdapterUploadMb=0", "LoRAQueue:Gateway:MaxAdapterUploadMb must be ≥ 1 (got 0)")]
    [InlineData("LoRAQueue:Gateway:MigrateOnStart=maybe", "LoRAQueue:Gateway:MigrateOnStart must be true or false (got 'maybe')")]
    [InlineData("LoRAQueue:Model:Path=", "LoRAQueue:Model:Path (env LORAQUEUE__MODEL__PATH) must name the base model directory")]
    public async Task A_bad_setting_stops_the_gateway_with_exit_2_and_one_line_naming_the_key(string setting, string message)
    {
        string[] args = ["--LoRAQueue:Postgres:ConnectionString=Host=127.0.0.1;Port=1", "--LoRAQueue:Model:Path=/nonexistent/model",
                         "--LoRAQueue:AdapterStore:Path=/nonexistent/adapters", "--" + setting];
        var log = new CapturingLogger();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        int exit = await HostRunner.RunAsync("LoRAQueue.Gateway", log, l => GatewayApplication.TryBuild(args, l), timeout.Token);

        Assert.Equal(2, exit);
        var critical = Assert.Single(log.Lines, l => l.StartsWith("Critical", StringComparison.Ordinal));
        Assert.Contains(message, critical);
        Assert.DoesNotContain(" | ", critical);
    }
}
