using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace LoRAQueue.Integration.Tests;

/// <summary>A host (worker or scheduler) running as a real child process (`dotnet X.dll`) configured by environment;
/// ready once it prints <c>readyMarker</c>.</summary>
public sealed partial class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private readonly string _readyMarker;

    private WorkerProcess(string id, Process process, string readyMarker)
    {
        Id = id;
        _process = process;
        _readyMarker = readyMarker;
    }

    public string Id { get; }
    public int ProcessId => _process.Id;
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>Everything the worker printed so far (for failure messages).</summary>
    public string Output => $"--- {Id} (pid {_process.Id}) ---{Environment.NewLine}{string.Join(Environment.NewLine, _output)}";

    public const string WorkerReadyMarker = " ready on ";
    public const string SchedulerReadyMarker = " trying for the lease";

    public static async Task<WorkerProcess> StartAsync(string workerDll, string id, IReadOnlyDictionary<string, string> environment,
                                                       TimeSpan? readyTimeout = null, string readyMarker = WorkerReadyMarker,
                                                       IReadOnlyList<string>? arguments = null)
    {
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(workerDll);
        foreach (var argument in arguments ?? []) start.ArgumentList.Add(argument);
        foreach (var (k, v) in environment) start.Environment[k] = v;
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var worker = new WorkerProcess(id, process, readyMarker);
        process.OutputDataReceived += (_, e) => worker.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => worker.OnLine(e.Data);
        process.Exited += (_, _) => worker._ready.TrySetException(
            new InvalidOperationException($"worker {id} exited before it was ready.{Environment.NewLine}{worker.Output}"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await worker._ready.Task.WaitAsync(readyTimeout ?? TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            await worker.DisposeAsync();
            throw new TimeoutException($"worker {id} did not report ready in time.{Environment.NewLine}{worker.Output}");
        }
        return worker;
    }

    private void OnLine(string? line)
    {
        if (line is null) return;
        _output.Enqueue(line);
        if (line.Contains(_readyMarker, StringComparison.Ordinal)) _ready.TrySetResult();
    }

    /// <summary>SIGKILL: the process dies at once, acknowledging nothing more.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM: what an orchestrator sends to stop a worker gracefully.</summary>
    public void Terminate()
    {
        if (kill(_process.Id, 15) != 0) throw new InvalidOperationException($"kill -TERM {_process.Id} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>SIGSTOP: the process freezes (its sockets stay open, nothing answers) until <see cref="Resume"/> or a kill.</summary>
    public void Freeze() => Signal(19);

    public void Resume() => Signal(18);

    private void Signal(int signal)
    {
        if (kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill -{signal} {_process.Id} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Waits until a line of the process's output contains <paramref name="text"/>.</summary>
    public Task WaitForOutputAsync(string text, TimeSpan timeout) =>
        Testing.Eventually.UntilAsync(() => Task.FromResult(_output.Any(l => l.Contains(text, StringComparison.Ordinal))), $"{Id} to log '{text}'", timeout, () => Output);

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await KillAsync();
        }
        catch (InvalidOperationException) // never started
        {
        }
        _process.Dispose();
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
