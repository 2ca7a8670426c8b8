using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace LoRAQueue.Testing;

/// <summary>Writes a host's warnings and errors (and, for chosen categories, its information) into a test's output, so a
/// failing test shows what the libraries said; lines after the test ended are dropped, as xunit refuses them.</summary>
public sealed class TestOutputLoggerProvider(ITestOutputHelper output, string prefix, LogLevel minimum = LogLevel.Warning) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(output, prefix, minimum);

    public void Dispose() { }

    private sealed class Logger(ITestOutputHelper output, string prefix, LogLevel minimum) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            try
            {
                output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} [{prefix}] {logLevel}: {formatter(state, exception)}"
                                 + (exception is null ? "" : $" | {exception.GetType().Name}: {exception.Message}"));
            }
            catch (InvalidOperationException) { } // the test has ended
        }
    }
}
