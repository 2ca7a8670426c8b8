using Microsoft.Extensions.Logging;

namespace LoRAQueue.Testing;

/// <summary>A logger that keeps every formatted message, for asserting what a host said when it would not start.</summary>
public sealed class CapturingLogger : ILogger
{
    private readonly List<string> _lines = [];

    public IReadOnlyList<string> Lines { get { lock (_lines) return [.. _lines]; } }

    public string Text => string.Join('\n', Lines);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_lines) _lines.Add($"{logLevel}: {formatter(state, exception)}{(exception is null ? "" : " | " + exception.GetType().Name)}");
    }
}
