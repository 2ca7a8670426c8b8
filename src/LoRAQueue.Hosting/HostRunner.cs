using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Hosting;

/// <summary>How every host executable runs, with one meaning for its exit code.</summary>
public static class HostRunner
{
    /// <summary>Builds the host with a start-up logger and runs it. Exit codes: 0 stopped cleanly, 1 failed while
    /// running, 2 could not start (<paramref name="build"/> returned null after logging why, or a setting is bad).</summary>
    public static async Task<int> RunAsync(string name, Func<ILogger, IHost?> build, CancellationToken ct = default)
    {
        using var startupLoggers = HostConsoleLogging.CreateStartupFactory();
        return await RunAsync(name, startupLoggers.CreateLogger(name), build, ct);
    }

    /// <summary><see cref="RunAsync(string, Func{ILogger, IHost?}, CancellationToken)"/> with the given start-up logger.</summary>
    public static async Task<int> RunAsync(string name, ILogger logger, Func<ILogger, IHost?> build, CancellationToken ct = default)
    {
        if (TryBuild(name, logger, build) is not { } host) return 2;
        using (host) return await RunBuiltAsync(name, host, logger, ct);
    }

    /// <summary><paramref name="build"/>, or null when it returned null or stopped on a bad setting (logged as one line).</summary>
    public static IHost? TryBuild(string name, ILogger logger, Func<ILogger, IHost?> build)
    {
        try
        {
            return build(logger);
        }
        catch (Exception e) when (SectionOptions.Describe(e) is { } problems)
        {
            LogBadSettings(logger, name, problems);
            return null;
        }
    }

    /// <summary>Runs a host already built until it stops: 0 when it stopped cleanly, 2 when a setting failed validation at
    /// start-up, 1 when it failed (logged).</summary>
    public static async Task<int> RunBuiltAsync(string name, IHost host, ILogger logger, CancellationToken ct = default)
    {
        try
        {
            await host.RunAsync(ct);
            return 0;
        }
        catch (Exception e) when (SectionOptions.Describe(e) is { } problems)
        {
            LogBadSettings(logger, name, problems);
            return 2;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogCritical(e, "{Host} failed", name);
            return 1;
        }
    }

    private static void LogBadSettings(ILogger logger, string name, string problems) =>
        logger.LogCritical("{Host} cannot start: {Problems}", name, problems);
}
