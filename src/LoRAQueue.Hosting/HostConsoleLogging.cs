using Microsoft.Extensions.Logging;

namespace LoRAQueue.Hosting;

/// <summary>One console log format for every host (worker, scheduler, gateway, the CLI's serve): single line, millisecond timestamps,
/// MassTransit and host chatter only from warnings up.</summary>
public static class HostConsoleLogging
{
    public static void Configure(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.IncludeScopes = false;
        });
        logging.AddFilter("MassTransit", LogLevel.Warning);
        logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
    }

    /// <summary>A logger for start-up failures, before the host (and its logging) exists.</summary>
    public static ILoggerFactory CreateStartupFactory() => LoggerFactory.Create(b => b.AddSimpleConsole(o =>
    {
        o.SingleLine = true;
        o.TimestampFormat = "HH:mm:ss.fff ";
    }));
}
