using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using LoRAQueue.Ucx.Interop;

namespace LoRAQueue.Ucx;

/// <summary>
/// One UCX context and worker for this process, driven by a dedicated progress thread: every UCP call runs on it (the
/// worker is single-threaded), and it keeps progressing so that peers' GETs are served — over <c>tcp</c> UCX emulates GET
/// with active messages, which the serving side must progress. Transports are UCX's to choose (<c>UCX_TLS</c>, or
/// <see cref="UcxOptions.Transports"/>); the calls are the same over tcp, shared memory and RDMA verbs.
/// </summary>
/// <remarks>
/// Progress is event-driven: while requests are in flight, and for <see cref="SpinAfterActivity"/> after any activity,
/// the thread progresses eagerly; then it arms the worker (<c>ucp_worker_arm</c>) and sleeps in <c>poll</c> on the
/// worker's event fd (<c>ucp_worker_get_efd</c>, context created with <c>UCP_FEATURE_WAKEUP</c>) until a transport has
/// something for it, another thread posts a call (<c>ucp_worker_signal</c>), or <see cref="UcxOptions.IdleBackstop"/>
/// passes. Where UCX refuses the wakeup feature, the thread naps 1 ms at a time instead (<see cref="NapReason"/>).
/// </remarks>
public sealed unsafe partial class UcxNode : IDisposable
{
    /// <summary>After activity the thread spins this long before it sleeps: a peer's next request is usually close behind.</summary>
    private static readonly TimeSpan SpinAfterActivity = TimeSpan.FromMilliseconds(20);

    /// <summary>While a pull of ours waits for the peer's answer the thread spins up to this long after the last activity
    /// before it sleeps: under heavy load UCX 1.13 over tcp does not always signal the event fd for the answer (seen as
    /// sleeps ended by the backstop), and pull throughput matters more than a second of spinning.</summary>
    private static readonly TimeSpan SpinWhileAwaitingPulls = TimeSpan.FromSeconds(1);

    private readonly nint _context;
    private readonly nint _worker;
    private readonly Thread _thread;
    private readonly ConcurrentQueue<Action> _calls = new();
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly List<Pending> _pending = []; // progress thread only
    private volatile bool _stopping;

    private sealed record Pending(nint Request, TaskCompletionSource Done, string What);

    private readonly bool _peerErrors;
    private readonly Action<string>? _log;
    private readonly int _backstopMs;
    private volatile int _efd; // the worker's event fd; -1: no wakeup, nap instead
    private int _sleeping; // 1 while the progress thread is (about to be) blocked in poll
    private readonly Lock _signalLock = new(); // ucp_worker_signal from other threads vs ucp_worker_destroy
    private bool _destroyed; // under _signalLock
    private volatile int _progressThreadId;
    private long _sleeps, _eventWakes;

    private UcxNode(nint context, nint worker, int efd, string? napReason, byte[] address, UcxOptions options)
    {
        _peerErrors = options.PeerErrors;
        _log = options.Log;
        _backstopMs = (int)Math.Clamp(options.IdleBackstop.TotalMilliseconds, 1, int.MaxValue);
        _context = context;
        _worker = worker;
        _efd = efd;
        NapReason = napReason;
        WorkerAddress = address;
        Transports = options.Transports ?? Environment.GetEnvironmentVariable("UCX_TLS") ?? "";
        _thread = new Thread(Run) { IsBackground = true, Name = "ucx-progress" };
        _thread.Start();
        InstallPullHandlers();
    }

    /// <summary>True while the idle progress thread blocks on the worker's event fd; false when it naps 1 ms at a time
    /// (see <see cref="NapReason"/>).</summary>
    public bool EventDriven => _efd >= 0;

    /// <summary>Why the progress thread naps instead of blocking (null while <see cref="EventDriven"/>).</summary>
    public string? NapReason { get; private set; }

    /// <summary>The progress thread's Linux thread id (0 until it has started): its CPU time is in /proc/self/task/ID/stat.</summary>
    internal int ProgressThreadId => _progressThreadId;

    /// <summary>How often the idle thread blocked in poll, and how often a transport or a posted call (not the
    /// backstop) woke it.</summary>
    internal (long Sleeps, long EventWakes) SleepCounts => (Interlocked.Read(ref _sleeps), Interlocked.Read(ref _eventWakes));

    /// <summary>What a peer needs to connect to this node (opaque UCX worker address).</summary>
    public byte[] WorkerAddress { get; }

    /// <summary>The UCX_TLS this node was created with ("" = UCX's default choice).</summary>
    public string Transports { get; }

    /// <summary>True when libucp can be loaded here; otherwise <paramref name="reason"/> says why (install libucx0).</summary>
    public static bool IsAvailable(out string reason)
    {
        if (NativeLibrary.TryLoad(Ucp.Library, typeof(UcxNode).Assembly, null, out var handle))
        {
            NativeLibrary.Free(handle);
            reason = "";
            return true;
        }
        reason = $"{Ucp.Library} not found: install UCX (Debian: apt-get install libucx0)";
        return false;
    }

    public static string Version => Marshal.PtrToStringUTF8(Ucp.ucp_get_version_string()) ?? "?";

    /// <summary>Creates the context (RMA, active messages and wakeup) and the worker; throws <see cref="UcxException"/> when
    /// UCX refuses. Where UCX refuses the wakeup feature (or its event fd) alone, the node is created without it and its
    /// progress thread naps while idle: <see cref="EventDriven"/> is false, <see cref="NapReason"/> and
    /// <see cref="UcxOptions.Log"/> say why.</summary>
    public static UcxNode Create(UcxOptions? options = null)
    {
        options ??= new UcxOptions();
        string napReason = "event-driven progress is turned off (UcxOptions.Wakeup)";
        if (options.Wakeup)
        {
            try
            {
                return Create(options, wakeup: true, napReason: null);
            }
            catch (UcxException e)
            {
                napReason = $"UCX refused event-driven progress ({e.Message})";
            }
        }
        var node = Create(options, wakeup: false, napReason);
        options.Log?.Invoke($"UCX progress thread naps 1 ms at a time while idle (a few % of a core): {napReason}");
        return node;
    }

    private static UcxNode Create(UcxOptions options, bool wakeup, string? napReason)
    {
        Ucp.Check(Ucp.ucp_config_read(null, null, out var config), "ucp_config_read");
        nint context = 0, worker = 0;
        try
        {
            if (!string.IsNullOrEmpty(options.Transports)) Ucp.Check(Ucp.ucp_config_modify(config, "TLS", options.Transports), "UCX_TLS");
            var parameters = new UcpParams
            {
                FieldMask = Ucp.ParamFieldFeatures, Features = Ucp.FeatureRma | Ucp.FeatureAm | (wakeup ? Ucp.FeatureWakeup : 0),
            };
            Ucp.Check(Ucp.ucp_init_version(Ucp.ApiMajor, Ucp.ApiMinor, &parameters, config, out context), "ucp_init");
            var workerParameters = new UcpWorkerParams { FieldMask = Ucp.WorkerParamFieldThreadMode, ThreadMode = Ucp.ThreadModeSingle };
            if (wakeup)
            {
                // Wake for any completion of ours and any arrival (a peer's pull request, the bytes of our own pulls).
                workerParameters.FieldMask |= Ucp.WorkerParamFieldEvents;
                workerParameters.Events = Ucp.WakeupTx | Ucp.WakeupRx;
            }
            Ucp.Check(Ucp.ucp_worker_create(context, &workerParameters, out worker), "ucp_worker_create");
            int efd = -1;
            if (wakeup) Ucp.Check(Ucp.ucp_worker_get_efd(worker, out efd), "ucp_worker_get_efd");
            Ucp.Check(Ucp.ucp_worker_get_address(worker, out var address, out var length), "ucp_worker_get_address");
            var bytes = new ReadOnlySpan<byte>((void*)address, checked((int)length)).ToArray();
            Ucp.ucp_worker_release_address(worker, address);
            return new UcxNode(context, worker, efd, napReason, bytes, options);
        }
        catch
        {
            if (worker != 0) Ucp.ucp_worker_destroy(worker);
            if (context != 0) Ucp.ucp_cleanup(context);
            throw;
        }
        finally
        {
            Ucp.ucp_config_release(config);
        }
    }

    /// <summary>Registers <paramref name="length"/> bytes at <paramref name="address"/> (memory the caller keeps alive and
    /// pinned until the region is disposed) for peers to read; the region carries the packed remote key they need.</summary>
    public Task<UcxRegion> RegisterAsync(nint address, nuint length) => Call(() =>
    {
        var parameters = new UcpMemMapParams
        {
            FieldMask = Ucp.MemMapParamFieldAddress | Ucp.MemMapParamFieldLength | Ucp.MemMapParamFieldProt,
            Address = address, Length = length, Prot = Ucp.ProtLocalRead | Ucp.ProtLocalWrite | Ucp.ProtRemoteRead,
        };
        Ucp.Check(Ucp.ucp_mem_map(_context, &parameters, out var memh), "ucp_mem_map");
        Ucp.Check(Ucp.ucp_rkey_pack(_context, memh, out var buffer, out var size), "ucp_rkey_pack");
        var rkey = new ReadOnlySpan<byte>((void*)buffer, checked((int)size)).ToArray();
        Ucp.ucp_rkey_buffer_release(buffer);
        Serve(address, length);
        return new UcxRegion(this, memh, address, length, rkey);
    });

    /// <summary>An endpoint to the node whose <see cref="WorkerAddress"/> is <paramref name="workerAddress"/>. With
    /// <see cref="UcxOptions.PeerErrors"/> a peer that dies fails its requests instead of leaving them hanging.</summary>
    public Task<UcxPeer> ConnectAsync(byte[] workerAddress) => Call(() =>
    {
        fixed (byte* address = workerAddress)
        {
            var parameters = new UcpEpParams { FieldMask = Ucp.EpParamFieldRemoteAddress, Address = (nint)address };
            if (_peerErrors)
            {
                parameters.FieldMask |= Ucp.EpParamFieldErrHandlingMode | Ucp.EpParamFieldErrHandler;
                parameters.ErrMode = Ucp.ErrHandlingModePeer;
                parameters.ErrHandlerCb = (nint)(delegate* unmanaged<nint, nint, int, void>)&OnEndpointError;
                parameters.ErrHandlerArg = GCHandle.ToIntPtr(_self);
            }
            Ucp.Check(Ucp.ucp_ep_create(_worker, &parameters, out var endpoint), "ucp_ep_create");
            return new UcxPeer(this, endpoint);
        }
    });

    /// <summary>UCX reports a failed endpoint here and fails its requests; the pulls waiting for the peer's answer are failed
    /// too. The endpoint is closed when its <see cref="UcxPeer"/> is disposed.</summary>
    [UnmanagedCallersOnly]
    private static void OnEndpointError(nint arg, nint endpoint, int status)
    {
        if (arg != 0 && GCHandle.FromIntPtr(arg).Target is UcxNode node) node.FailPulls(endpoint, status);
    }

    internal void Unmap(nint memh, nint address)
    {
        StopServing(address);
        Post(() => Ucp.ucp_mem_unmap(_context, memh));
    }

    internal Task<nint> UnpackAsync(nint endpoint, byte[] packedRkey) => Call(() =>
    {
        fixed (byte* buffer = packedRkey)
        {
            Ucp.Check(Ucp.ucp_ep_rkey_unpack(endpoint, buffer, out var rkey), "ucp_ep_rkey_unpack");
            return rkey;
        }
    });

    internal void DestroyRkey(nint rkey) => Post(() => Ucp.ucp_rkey_destroy(rkey));

    /// <summary>One-sided GET of <paramref name="length"/> bytes from the peer's <paramref name="remoteAddress"/> into
    /// <paramref name="local"/> (kept alive and pinned by the caller until the task ends).</summary>
    internal Task GetAsync(nint endpoint, nint rkey, ulong remoteAddress, nint buffer, nuint length)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(() =>
        {
            var parameters = new UcpRequestParam();
            nint request = Ucp.ucp_get_nbx(endpoint, (void*)buffer, length, remoteAddress, rkey, &parameters);
            Track(request, "ucp_get_nbx", () => done.TrySetResult(), e => done.TrySetException(e));
        });
        return done.Task;
    }

    /// <summary>Closes the endpoint at once: its requests fail (UCX cancels them), and pulls still waiting for the peer's
    /// answer fail too, so nothing is written into their buffers afterwards.</summary>
    internal Task CloseAsync(nint endpoint)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(() =>
        {
            FailPulls(endpoint, Ucp.ErrCanceled);
            var parameters = new UcpRequestParam { OpAttrMask = Ucp.OpAttrFieldFlags, Flags = Ucp.EpCloseFlagForce };
            nint request = Ucp.ucp_ep_close_nbx(endpoint, &parameters);
            // Closed, or already broken: nothing left to wait for either way.
            Track(request, "close", () => done.TrySetResult(), _ => done.TrySetResult());
        });
        return done.Task;
    }

    /// <summary>Runs <paramref name="completed"/> once the request is done (now, when UCX finished it inline), or
    /// <paramref name="failed"/> with UCX's error; progress thread only.</summary>
    private void Track(nint request, string what, Action completed, Action<Exception> failed)
    {
        if (request == 0) { completed(); return; }
        if (Ucp.IsError(request))
        {
            failed(new UcxException($"{what}: {Ucp.Describe((int)request)}", (int)request));
            return;
        }
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending.Add(new Pending(request, done, what));
        done.Task.ContinueWith(t => { if (t.IsFaulted) failed(t.Exception!.InnerException!); else completed(); },
                               TaskContinuationOptions.ExecuteSynchronously);
    }

    private Task<T> Call<T>(Func<T> call)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(() =>
        {
            try { done.TrySetResult(call()); }
            catch (Exception e) { done.TrySetException(e); }
        });
        return done.Task;
    }

    private void Post(Action call)
    {
        ObjectDisposedException.ThrowIf(_stopping, this);
        _calls.Enqueue(call);
        Wake();
    }

    /// <summary>Makes the progress thread look at its calls now: it may be blocked in poll (events) or napping.</summary>
    private void Wake()
    {
        // Pairs with the progress thread's "_sleeping = 1, then look at the calls": either it sees the call, or we see it
        // sleeping and signal its event fd (a signal that comes too late only makes the next ucp_worker_arm say BUSY).
        Interlocked.MemoryBarrier();
        if (_efd >= 0)
        {
            if (Volatile.Read(ref _sleeping) == 0) return;
            lock (_signalLock)
                if (!_destroyed) Ucp.ucp_worker_signal(_worker);
        }
        else
        {
            _wake.Set();
        }
    }

    private void Run()
    {
        _progressThreadId = Libc.gettid();
        long lastActivity = Environment.TickCount64;
        while (!_stopping || !_calls.IsEmpty || _pending.Count > 0)
        {
            bool active = false;
            while (_calls.TryDequeue(out var call)) { call(); active = true; }
            if (Ucp.ucp_worker_progress(_worker) != 0) active = true;
            for (int i = _pending.Count - 1; i >= 0; i--)
            {
                var pending = _pending[i];
                int status = Ucp.ucp_request_check_status(pending.Request);
                if (status == Ucp.InProgress) continue;
                Ucp.ucp_request_free(pending.Request);
                _pending.RemoveAt(i);
                active = true;
                if (status == Ucp.Ok) pending.Done.TrySetResult();
                else pending.Done.TrySetException(new UcxException($"{pending.What}: {Ucp.Describe(status)}", status));
            }
            // Requests in flight: progress eagerly, as fast as before.
            if (active || _pending.Count > 0) { lastActivity = Environment.TickCount64; continue; }
            // A pull of ours awaiting its answer keeps the thread spinning longer (bounded: a hung peer must not cost a core).
            var spin = _pulls.IsEmpty ? SpinAfterActivity : SpinWhileAwaitingPulls;
            if (Environment.TickCount64 - lastActivity < spin.TotalMilliseconds) { Thread.Yield(); continue; }
            if (_efd >= 0) { Sleep(); continue; }
            _wake.Wait(1); // no wakeup: nap, but wake at once for a call, and at least every millisecond for peers' requests
            _wake.Reset();
        }
    }

    /// <summary>Idle, and the last <c>ucp_worker_progress</c> found nothing: arm the worker and block until its event fd
    /// says a transport has work, another thread posts a call, or the backstop passes. Progress thread only.</summary>
    private void Sleep()
    {
        Interlocked.Exchange(ref _sleeping, 1); // a full fence: Wake() sees it, or we see its call below
        try
        {
            if (!_calls.IsEmpty || _stopping) return;
            int status = Ucp.ucp_worker_arm(_worker);
            if (status == Ucp.ErrBusy) return; // events to progress first (or a signal already came)
            if (status != Ucp.Ok)
            {
                FallBackToNaps($"ucp_worker_arm: {Ucp.Describe(status)}");
                return;
            }
            var fd = new PollFd { Fd = _efd, Events = Libc.PollIn };
            Interlocked.Increment(ref _sleeps);
            int ready = Libc.poll(&fd, 1, _backstopMs);
            if (ready > 0) Interlocked.Increment(ref _eventWakes);
            else if (ready < 0 && Marshal.GetLastPInvokeError() is var errno && errno != Libc.EINTR)
                FallBackToNaps($"poll on the worker's event fd: errno {errno}");
        }
        finally
        {
            Volatile.Write(ref _sleeping, 0);
        }
    }

    private void FallBackToNaps(string reason)
    {
        NapReason = reason;
        _efd = -1;
        _log?.Invoke($"UCX progress thread naps 1 ms at a time while idle from now on (a few % of a core): {reason}");
    }

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        Interlocked.MemoryBarrier();
        if (_efd >= 0)
            lock (_signalLock) Ucp.ucp_worker_signal(_worker); // whether or not it sleeps yet: the next arm then says BUSY
        _wake.Set();
        _thread.Join();
        lock (_signalLock) _destroyed = true;
        Ucp.ucp_worker_destroy(_worker);
        Ucp.ucp_cleanup(_context);
        foreach (var pull in _pulls.Values) pull.Done.TrySetException(new ObjectDisposedException(nameof(UcxNode)));
        if (_self.IsAllocated) _self.Free();
        _wake.Dispose();
    }
}

/// <summary>How to create a <see cref="UcxNode"/>.</summary>
/// <param name="Transports">UCX_TLS for this node, e.g. "tcp", "shm" (posix, sysv, cma), "rc,ud" (RDMA); null: the UCX_TLS
/// environment variable, else UCX's own choice.</param>
/// <param name="PeerErrors">Endpoints detect a dead peer and fail its requests (UCX's "peer" error mode). UCX 1.13's shared
/// memory transports cannot: with them a peer is unreachable in this mode, so shared-memory nodes turn it off and bound
/// each pull by a timeout instead.</param>
/// <param name="Wakeup">Event-driven progress: the idle progress thread blocks on the worker's event fd (UCP_FEATURE_WAKEUP)
/// instead of napping 1 ms at a time. On by default; UCX refusing it falls back to the naps.</param>
/// <param name="Log">Told when the progress thread naps instead of blocking, and why (at creation, or later if arming the
/// worker fails).</param>
public sealed record UcxOptions(string? Transports = null, bool PeerErrors = true, bool Wakeup = true, Action<string>? Log = null)
{
    /// <summary>The idle thread's poll on the event fd returns after this long even without an event, so that a
    /// transport that fails to signal can delay a peer's request by at most this much, never hang it.</summary>
    public TimeSpan IdleBackstop { get; init; } = TimeSpan.FromMilliseconds(100);
}
