using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace LoRAQueue.Cli.Cluster;

/// <summary>CPU and memory of a process from /proc: utime + stime (and, with children, the reaped children's), VmHWM and VmRSS.</summary>
internal static class ProcStat
{
    private static readonly double TicksPerSecond = 100; // USER_HZ: 100 on every Linux this runs on

    /// <summary>CPU seconds of <paramref name="pid"/> (with <paramref name="withReapedChildren"/>: plus its waited-for children's), or null if gone.</summary>
    public static double? CpuSeconds(int pid, bool withReapedChildren = false)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' '); // fields from the 3rd (state)
            double ticks = double.Parse(fields[11], CultureInfo.InvariantCulture) + double.Parse(fields[12], CultureInfo.InvariantCulture);
            if (withReapedChildren) ticks += double.Parse(fields[13], CultureInfo.InvariantCulture) + double.Parse(fields[14], CultureInfo.InvariantCulture);
            return ticks / TicksPerSecond;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>(VmRSS, VmHWM, RssAnon, RssShmem) in MB, or null if gone.</summary>
    public static (double Rss, double Peak, double Anon, double Shmem)? Memory(int pid)
    {
        try
        {
            double rss = 0, hwm = 0, anon = 0, shmem = 0;
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kb(line) / 1024.0;
                else if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) hwm = Kb(line) / 1024.0;
                else if (line.StartsWith("RssAnon:", StringComparison.Ordinal)) anon = Kb(line) / 1024.0;
                else if (line.StartsWith("RssShmem:", StringComparison.Ordinal)) shmem = Kb(line) / 1024.0;
            }
            return (rss, hwm, anon, shmem);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The processes whose parent is <paramref name="pid"/>.</summary>
    public static IEnumerable<int> Children(int pid)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int child)) continue;
            string stat;
            try { stat = File.ReadAllText(Path.Combine(dir, "stat")); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (fields.Length > 1 && int.TryParse(fields[1], out int parent) && parent == pid) yield return child;
        }
    }

    private static double Kb(string line) => double.Parse(line.Split(':', 2)[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
}

/// <summary>
/// A process the bench watches: a child it started (`dotnet loraqueue.dll serve …`, output to a log file, a ready line awaited) or a
/// server it was given the pid of (RabbitMQ, Redis, Postgres). Sampled from /proc: CPU at the window's start and at the last sample,
/// the peak RSS.
/// </summary>
internal sealed partial class ClusterProcess : IAsyncDisposable
{
    private readonly Process? _process;
    private readonly StreamWriter? _log;
    private readonly ConcurrentQueue<string> _tail = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string? _readyMarker;
    private readonly bool _tree;
    private double? _windowStartCpu;
    private double _lastCpu, _startCpu;
    private double _peakMb;

    private ClusterProcess(string role, string id, int pid, Process? process, StreamWriter? log, string? readyMarker, bool tree)
    {
        Role = role;
        Id = id;
        Pid = pid;
        _process = process;
        _log = log;
        _readyMarker = readyMarker;
        _tree = tree;
    }

    public string Role { get; }
    public string Id { get; }
    public int Pid { get; }
    public bool Killed { get; private set; }
    public bool Started => _process is not null;
    public bool HasExited => _process is { HasExited: true } || (_process is null && ProcStat.CpuSeconds(Pid) is null);

    /// <summary>Lines the process printed that matched <see cref="Watch"/>'s prefix (e.g. the worker's Emulation line).</summary>
    public ConcurrentQueue<string> Watched { get; } = new();
    public string? Watch { get; init; }

    public string Tail => string.Join(Environment.NewLine, _tail);

    /// <summary>A server started elsewhere: watched only. <paramref name="tree"/>: count its child processes too (Postgres).</summary>
    public static ClusterProcess Attach(string role, string id, int pid, bool tree = false)
    {
        var p = new ClusterProcess(role, id, pid, null, null, null, tree);
        p._startCpu = p.ReadCpu() ?? 0;
        p.Sample();
        return p;
    }

    public static ClusterProcess Start(string role, string id, string dotnet, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment,
                                       string logPath, string? readyMarker, string? watch = null)
    {
        var start = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (k, v) in environment) start.Environment[k] = v;
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        var log = new StreamWriter(logPath, append: true) { AutoFlush = true };
        process.Start();
        var p = new ClusterProcess(role, id, process.Id, process, log, readyMarker, false) { Watch = watch };
        process.OutputDataReceived += (_, e) => p.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => p.OnLine(e.Data);
        process.Exited += (_, _) => p._ready.TrySetException(new InvalidOperationException($"{role} {id} exited (code {SafeExit(process)}) before it was ready:{Environment.NewLine}{p.Tail}"));
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (readyMarker is null) p._ready.TrySetResult();
        return p;
    }

    private static string SafeExit(Process process)
    {
        try { return process.ExitCode.ToString(CultureInfo.InvariantCulture); }
        catch (InvalidOperationException) { return "?"; }
    }

    private void OnLine(string? line)
    {
        if (line is null) return;
        lock (_log!) _log.WriteLine(line);
        _tail.Enqueue(line);
        while (_tail.Count > 40) _tail.TryDequeue(out _);
        if (Watch is not null && line.Contains(Watch, StringComparison.Ordinal)) Watched.Enqueue(line);
        if (_readyMarker is not null && line.Contains(_readyMarker, StringComparison.Ordinal)) _ready.TrySetResult();
    }

    public Task WaitReadyAsync(TimeSpan timeout) => _ready.Task.WaitAsync(timeout);

    private double? ReadCpu()
    {
        if (!_tree) return ProcStat.CpuSeconds(Pid);
        if (ProcStat.CpuSeconds(Pid, withReapedChildren: true) is not { } own) return null;
        return own + ProcStat.Children(Pid).Sum(c => ProcStat.CpuSeconds(c) ?? 0);
    }

    /// <summary>Reads CPU and memory now (nothing once the process is gone: the last sample stands).</summary>
    public void Sample()
    {
        if (ReadCpu() is { } cpu) _lastCpu = cpu;
        double mb;
        if (_tree)
        {
            // Postgres: every backend maps the same shared buffers; count them once (the largest RssShmem), plus each process's own
            // anonymous memory, plus the postmaster's file-backed pages.
            var all = ProcStat.Children(Pid).Select(ProcStat.Memory).Append(ProcStat.Memory(Pid)).OfType<(double Rss, double Peak, double Anon, double Shmem)>().ToList();
            mb = all.Sum(m => m.Anon) + (all.Count == 0 ? 0 : all.Max(m => m.Shmem)) + (ProcStat.Memory(Pid) is { } own ? own.Rss - own.Anon - own.Shmem : 0);
        }
        else mb = ProcStat.Memory(Pid) is { } m ? Math.Max(m.Peak, m.Rss) : 0;
        _peakMb = Math.Max(_peakMb, mb);
    }

    /// <summary>Marks the start of the measured window (the replay's start).</summary>
    public void StartWindow()
    {
        Sample();
        _windowStartCpu = _lastCpu;
    }

    public ProcessUsage Usage(string? state = null)
    {
        Sample();
        return new ProcessUsage(Role, Id, Pid, Math.Round(_lastCpu - (_windowStartCpu ?? (Started ? 0 : _startCpu)), 2),
            Math.Round(_lastCpu - (Started ? 0 : _startCpu), 2), Math.Round(_peakMb, 1),
            state ?? (Killed ? "killed" : HasExited ? "exited" : "running"));
    }

    /// <summary>SIGKILL: a crash.</summary>
    public async Task KillAsync()
    {
        if (_process is null || _process.HasExited) return;
        Sample();
        Killed = true;
        try { _process.Kill(); } catch (InvalidOperationException) { }
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM, then SIGKILL after <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_process is null || _process.HasExited) return;
        Sample();
        _ = kill(_process.Id, 15);
        using var timeout = new CancellationTokenSource(grace);
        try { await _process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException) { await KillAsync(); }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            if (!_process.HasExited) await KillAsync();
            _process.WaitForExit(); // drains the output handlers
            _process.Dispose();
        }
        if (_log is not null) lock (_log) _log.Dispose();
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
