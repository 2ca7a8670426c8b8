using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace LoRAQueue.Hosting;

public sealed class HostConsoleFormatterOptions : ConsoleFormatterOptions
{
    /// <summary>Colored level names, as SimpleConsole: by default only when standard output is a terminal.</summary>
    public LoggerColorBehavior ColorBehavior { get; set; }
}

/// <summary>
/// SimpleConsole's single line (<c>HH:mm:ss.fff warn: Category[0] message</c>), but an exception is only its types and
/// messages (<c>NpgsqlException: Failed to connect to 127.0.0.1:5432 ---> SocketException: Connection refused</c>), not
/// <c>ToString()</c>: during an outage MassTransit and Npgsql log a warning per retry, and whole stack traces on one line
/// (several KB each) bury everything else. The trace follows, on lines of its own, only when Debug is on for the
/// category or by default (<c>Logging__LogLevel__Default=Debug</c>; the latter so categories held at Warning in code,
/// such as MassTransit, show theirs too).
/// </summary>
public sealed class HostConsoleFormatter : ConsoleFormatter
{
    public const string FormatterName = "loraqueue";
    public const int MaxMessageLength = 160;
    public const int MaxChain = 4;

    private readonly IOptionsMonitor<HostConsoleFormatterOptions> _options;
    private readonly IServiceProvider _services;
    private readonly ConcurrentDictionary<string, ILogger> _loggers = new();
    private ILoggerFactory? _factory;

    public HostConsoleFormatter(IOptionsMonitor<HostConsoleFormatterOptions> options, IServiceProvider services) : base(FormatterName)
    {
        _options = options;
        _services = services;
    }

    public override void Write<TState>(in LogEntry<TState> logEntry, IExternalScopeProvider? scopeProvider, TextWriter textWriter)
    {
        string message = logEntry.Formatter?.Invoke(logEntry.State, logEntry.Exception) ?? "";
        var exception = logEntry.Exception;
        if (message.Length == 0 && exception is null) return;
        var options = _options.CurrentValue;

        if (options.TimestampFormat is { } format)
            textWriter.Write((options.UseUtcTimestamp ? DateTimeOffset.UtcNow : DateTimeOffset.Now).ToString(format));
        WriteLevel(textWriter, logEntry.LogLevel, UseColors(options));
        textWriter.Write($": {logEntry.Category}[{logEntry.EventId.Id}]");
        if (message.Length > 0) textWriter.Write(" " + OneLine(message));
        if (exception is not null) textWriter.Write(" " + Summary(exception));
        textWriter.Write(Environment.NewLine);
        if (exception is not null && TraceWanted(logEntry.Category)) textWriter.Write(exception + Environment.NewLine);
    }

    /// <summary>The chain of exceptions as "Type: message ---> Inner: message", each message on one line and cut to
    /// <see cref="MaxMessageLength"/>, at most <see cref="MaxChain"/> of them.</summary>
    public static string Summary(Exception exception)
    {
        var parts = new List<string>();
        Exception? current = exception;
        for (; current is not null && parts.Count < MaxChain; current = current.InnerException)
        {
            string text = OneLine(current.Message);
            if (text.Length > MaxMessageLength) text = text[..(MaxMessageLength - 1)] + "…";
            parts.Add($"{current.GetType().Name}: {text}");
        }
        if (current is not null) parts.Add("…");
        return string.Join(" ---> ", parts);
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");

    /// <summary>Asks the host's own logging (the formatter is built with the logger factory, so it is looked up at first use).</summary>
    private bool TraceWanted(string category)
    {
        _factory ??= _services.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance;
        return _loggers.GetOrAdd(category, _factory.CreateLogger).IsEnabled(LogLevel.Debug)
               || _loggers.GetOrAdd("", _factory.CreateLogger).IsEnabled(LogLevel.Debug);
    }

    private static bool UseColors(HostConsoleFormatterOptions options) => options.ColorBehavior switch
    {
        LoggerColorBehavior.Enabled => true,
        LoggerColorBehavior.Disabled => false,
        _ => !Console.IsOutputRedirected,
    };

    /// <summary>SimpleConsole's level names and colors.</summary>
    private static void WriteLevel(TextWriter writer, LogLevel level, bool colors)
    {
        var (name, ansi) = level switch
        {
            LogLevel.Trace => ("trce", "\e[37m\e[40m"),
            LogLevel.Debug => ("dbug", "\e[37m\e[40m"),
            LogLevel.Information => ("info", "\e[32m\e[40m"),
            LogLevel.Warning => ("warn", "\e[1m\e[33m\e[40m"),
            LogLevel.Error => ("fail", "\e[30m\e[41m"),
            LogLevel.Critical => ("crit", "\e[1m\e[37m\e[41m"),
            _ => (level.ToString(), ""),
        };
        writer.Write(colors && ansi.Length > 0 ? $"{ansi}{name}\e[39m\e[22m\e[49m" : name);
    }
}
