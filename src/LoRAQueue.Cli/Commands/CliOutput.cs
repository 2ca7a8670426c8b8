using System.Text.Json;
using System.Text.Json.Serialization;
using Spectre.Console;

namespace LoRAQueue.Cli.Commands;

/// <summary>A mistake in what the user asked for: reported as one line and exit code 1, never a stack trace.</summary>
internal sealed class CliException(string message) : Exception(message);

/// <summary>Machine-readable output goes to stdout as JSON; progress and tables go to stderr/stdout for people.</summary>
internal static class CliOutput
{
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static void WriteJson<T>(T value) => WriteJson(Console.Out, value);

    public static void WriteJson<T>(TextWriter output, T value) => output.WriteLine(JsonSerializer.Serialize(value, Json));

    /// <summary>Progress lines on stderr, so that `--json` output on stdout stays parseable.</summary>
    public static IProgress<string> ProgressLines() => ProgressLines(Console.Error);

    public static IProgress<string> ProgressLines(TextWriter writer) => new SyncProgress<string>(writer.WriteLine);

    /// <summary>Progress&lt;T&gt; posts to the thread pool; this one reports inline and in order.</summary>
    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>Turns a library's validation exception into one clear line and exit code 1.</summary>
    public static int Fail(Exception e) => Fail(Console.Error, e.Message);

    public static int Fail(TextWriter error, string message)
    {
        error.WriteLine($"error: {message}");
        return 1;
    }

    /// <summary>
    /// A Spectre console over <paramref name="output"/>: the terminal itself when it is the process's stdout (colours,
    /// live progress), otherwise plain text at a fixed width so that captured output is stable.
    /// </summary>
    public static IAnsiConsole ConsoleFor(TextWriter output)
    {
        if (ReferenceEquals(output, Console.Out))
        {
            // Redirected to a file or pipe, Spectre assumes 80 columns; job ids alone take 36.
            if (Console.IsOutputRedirected) AnsiConsole.Console.Profile.Width = Math.Max(AnsiConsole.Console.Profile.Width, 160);
            return AnsiConsole.Console;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        console.Profile.Width = 160;
        return console;
    }
}
