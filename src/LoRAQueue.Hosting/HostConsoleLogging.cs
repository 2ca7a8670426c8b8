using Microsoft.Extensions.Logging;

namespace LoRAQueue.Hosting;

/// <summary>One console log format for every host (worker, scheduler, gateway, the CLI's serve): single line, millisecond timestamps,
/// exceptions as their types and messages (the trace only with Debug on: <see cref="HostConsoleFormatter"/>), MassTransit and
/// host chatter only from warnings up.</summary>
public static class HostConsoleLogging
{
    public static void Configure(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        AddConsole(logging);
        logging.AddFilter("MassTransit", LogLevel.Warning);
        logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
    }

    /// <summary>A logger for start-up failures, before the host (and its logging) exists.</summary>
    public static ILoggerFactory CreateStartupFactory() => LoggerFactory.Create(AddConsole);

    private static void AddConsole(ILoggingBuilder logging)
    {
        logging.AddConsole(o => o.FormatterName = HostConsoleFormatter.FormatterName);
        logging.AddConsoleFormatter<HostConsoleFormatter, HostConsoleFormatterOptions>(o => o.TimestampFormat = "HH:mm:ss.fff ");
    }
}
