using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Hosting;

/// <summary>How every host executable runs, with one meaning for its exit code.</summary>
public static class HostRunner
{
    /// <summary>Builds the host with a start-up logger and runs it. Exit codes: 0 stopped cleanly, 1 failed while
    /// running, 2 could not start (<paramref name="build"/> returned null after logging why).</summary>
    public static async Task<int> RunAsync(string name, Func<ILogger, IHost?> build, CancellationToken ct = default)
    {
        using var startupLoggers = HostConsoleLogging.CreateStartupFactory();
        var logger = startupLoggers.CreateLogger(name);
        if (build(logger) is not { } host) return 2;
        using (host) return await RunBuiltAsync(name, host, logger, ct);
    }

    /// <summary>Runs a host already built until it stops: 0 when it stopped cleanly, 1 when it failed (logged).</summary>
    public static async Task<int> RunBuiltAsync(string name, IHost host, ILogger logger, CancellationToken ct = default)
    {
        try
        {
            await host.RunAsync(ct);
            return 0;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogCritical(e, "{Host} failed", name);
            return 1;
        }
    }
}
