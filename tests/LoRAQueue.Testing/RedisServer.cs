using System.Diagnostics;
using StackExchange.Redis;

namespace LoRAQueue.Testing;

/// <summary>
/// A Redis of the test's own (redis-server on a free loopback port, no persistence), so that a test can stop and
/// restart it without touching the Redis other test projects share (<see cref="RedisFixture"/>). Restarting keeps the port and loses the data, as
/// a restart of a Redis without persistence does.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private Process? _process;

    private RedisServer(int port) => Port = port;

    public int Port { get; }
    public string Configuration => $"127.0.0.1:{Port}";
    public bool IsRunning => _process is { HasExited: false };

    public static async Task<RedisServer> StartAsync()
    {
        var server = new RedisServer(LoopbackPort.Free());
        await server.LaunchAsync();
        return server;
    }

    /// <summary>Starts it again on the same port, empty.</summary>
    public Task RestartAsync() => LaunchAsync();

    /// <summary>SIGKILL: clients see the connection drop at once.</summary>
    public async Task StopAsync()
    {
        if (_process is null) return;
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
        _process.Dispose();
        _process = null;
    }

    private async Task LaunchAsync()
    {
        var start = new ProcessStartInfo("redis-server") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])["--bind", "127.0.0.1", "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                     "--save", "", "--appendonly", "no", "--dir", Path.GetTempPath()])
            start.ArgumentList.Add(a);
        _process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start (is it installed? scripts/test.sh installs it)");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await Eventually.WaitAsync(PingAsync, ok => ok, $"redis-server on port {Port} to answer", TimeSpan.FromSeconds(10));
    }

    private async Task<bool> PingAsync()
    {
        if (_process is { HasExited: true }) throw new InvalidOperationException($"redis-server on port {Port} exited with {_process.ExitCode}");
        try
        {
            await using var connection = await ConnectionMultiplexer.ConnectAsync(Configuration + ",connectTimeout=500");
            await connection.GetDatabase().PingAsync();
            return true;
        }
        catch (RedisConnectionException)
        {
            return false;
        }
    }


    public async ValueTask DisposeAsync() => await StopAsync();
}
