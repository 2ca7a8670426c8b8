using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.InProcess;

/// <summary>
/// Keeps the demo's warnings and errors in memory: log lines written while the live progress display owns the
/// terminal would tear it, so they are shown (a few of them) after the run instead.
/// </summary>
public sealed class CapturedLog : ILoggerProvider
{
    private const int Keep = 200;
    private readonly ConcurrentQueue<string> _lines = new();
    private int _count;

    public int Count => Volatile.Read(ref _count);
    public IReadOnlyList<string> Lines => [.. _lines];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(string line)
    {
        if (Interlocked.Increment(ref _count) <= Keep) _lines.Enqueue(line);
    }

    private sealed class Logger(CapturedLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            var name = category[(category.LastIndexOf('.') + 1)..];
            log.Add($"{logLevel.ToString().ToLowerInvariant()} {name}: {formatter(state, exception)}{(exception is null ? "" : $" ({exception.Message})")}");
        }
    }
}
