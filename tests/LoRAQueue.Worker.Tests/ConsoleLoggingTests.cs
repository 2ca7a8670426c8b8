using System.Net.Sockets;
using LoRAQueue.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace LoRAQueue.Worker.Tests;

/// <summary>The hosts' console format (<see cref="HostConsoleLogging"/>): a warning with an exception is one short line
/// during an outage; the stack trace only when Debug is on.</summary>
public sealed class ConsoleLoggingTests
{
    /// <summary>What the console logger of a host configured by HostConsoleLogging (plus <paramref name="levels"/> as
    /// Logging:LogLevel:* settings) writes for one entry.</summary>
    private static string Write(string category, LogLevel level, Exception exception, params (string Category, string Level)[] levels)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(levels.Select(l => new KeyValuePair<string, string?>($"LogLevel:{l.Category}", l.Level)))
            .Build();
        var services = new ServiceCollection().AddLogging(logging =>
        {
            logging.AddConfiguration(configuration);
            HostConsoleLogging.Configure(logging);
        });
        using var provider = services.BuildServiceProvider();
        string name = provider.GetRequiredService<IOptionsMonitor<ConsoleLoggerOptions>>().CurrentValue.FormatterName ?? ConsoleFormatterNames.Simple;
        var formatter = provider.GetServices<ConsoleFormatter>().Single(f => f.Name == name);
        using var output = new StringWriter();
        formatter.Write(new LogEntry<string>(level, category, new EventId(3), "Connection failed, retrying", exception, (s, _) => s), null, output);
        return output.ToString();
    }

    /// <summary>Three exceptions deep with real stack traces, as a broker client's connect failure is.</summary>
    private static Exception ConnectFailure()
    {
        try
        {
            ConnectToBroker();
        }
        catch (Exception e)
        {
            return e;
        }
        throw new InvalidOperationException("unreachable");
    }

    private static void ConnectToBroker()
    {
        try
        {
            ReadFromSocket();
        }
        catch (IOException e)
        {
            throw new InvalidOperationException("Connect failed: loraqueue@127.0.0.1:5672/", e);
        }
    }

    private static void ReadFromSocket()
    {
        try
        {
            throw new SocketException((int)SocketError.ConnectionRefused);
        }
        catch (SocketException e)
        {
            throw new IOException("Unable to read data from the transport connection:\nConnection refused.", e);
        }
    }

    private static string[] Lines(string output) => output.Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void A_warning_with_a_deep_exception_chain_is_one_short_line_with_each_type_and_message()
    {
        string output = Write("MassTransit", LogLevel.Warning, ConnectFailure());

        string line = Assert.Single(Lines(output));
        Assert.True(line.Length < 500, $"{line.Length} characters: {line}");
        Assert.Matches(@"^\d\d:\d\d:\d\d\.\d{3} warn: MassTransit\[3\] Connection failed, retrying ", line);
        Assert.EndsWith("InvalidOperationException: Connect failed: loraqueue@127.0.0.1:5672/"
                        + " ---> IOException: Unable to read data from the transport connection: Connection refused."
                        + $" ---> SocketException: {new SocketException((int)SocketError.ConnectionRefused).Message}", line);
        Assert.DoesNotContain(nameof(ReadFromSocket), output);
    }

    [Fact]
    public void A_long_chain_and_long_messages_are_cut()
    {
        Exception chain = new TimeoutException(new string('x', 5000));
        for (int i = 0; i < 10; i++) chain = new InvalidOperationException($"level {i}", chain);

        string line = Assert.Single(Lines(Write("Npgsql", LogLevel.Error, chain)));

        Assert.True(line.Length < 500, $"{line.Length} characters: {line}");
        Assert.Contains(" fail: Npgsql[3] ", line);
        Assert.EndsWith("InvalidOperationException: level 6 ---> …", line);
    }

    [Theory]
    [InlineData("Default", "Npgsql")]
    [InlineData("Npgsql", "Npgsql")]
    [InlineData("Default", "MassTransit")] // held at Warning in code, yet Default=Debug shows its traces
    public void With_Debug_on_the_full_trace_follows_the_line(string debugFor, string category)
    {
        var exception = ConnectFailure();

        string[] lines = Lines(Write(category, LogLevel.Warning, exception, (debugFor, "Debug")));

        Assert.Contains($"{category}[3] Connection failed, retrying InvalidOperationException: Connect failed", lines[0]);
        Assert.Equal(exception.ToString(), string.Join(Environment.NewLine, lines[1..]));
        Assert.Contains(lines, l => l.Contains(nameof(ReadFromSocket)));
    }

    [Fact]
    public void Debug_for_another_category_adds_no_trace()
    {
        Assert.Single(Lines(Write("MassTransit", LogLevel.Warning, ConnectFailure(), ("Npgsql", "Debug"))));
    }
}
