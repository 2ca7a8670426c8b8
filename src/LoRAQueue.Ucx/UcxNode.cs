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
public sealed unsafe partial class UcxNode : IDisposable
{
    /// <summary>After activity the thread spins this long before it naps: a peer's next request is usually close behind.</summary>
    private static readonly TimeSpan SpinAfterActivity = TimeSpan.FromMilliseconds(20);

    private readonly nint _context;
    private readonly nint _worker;
    private readonly Thread _thread;
    private readonly ConcurrentQueue<Action> _calls = new();
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly List<Pending> _pending = []; // progress thread only
    private volatile bool _stopping;

    private sealed record Pending(nint Request, TaskCompletionSource Done, string What);

    private readonly bool _peerErrors;

    private UcxNode(nint context, nint worker, byte[] address, string transports, bool peerErrors)
    {
        _peerErrors = peerErrors;
        _context = context;
        _worker = worker;
        WorkerAddress = address;
        Transports = transports;
        _thread = new Thread(Run) { IsBackground = true, Name = "ucx-progress" };
        _thread.Start();
        InstallPullHandlers();
    }

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

    /// <summary>Creates the context (RMA and active messages) and the worker; throws <see cref="UcxException"/> when UCX refuses.</summary>
    public static UcxNode Create(UcxOptions? options = null)
    {
        options ??= new UcxOptions();
        Ucp.Check(Ucp.ucp_config_read(null, null, out var config), "ucp_config_read");
        nint context = 0, worker = 0;
        try
        {
            if (!string.IsNullOrEmpty(options.Transports)) Ucp.Check(Ucp.ucp_config_modify(config, "TLS", options.Transports), "UCX_TLS");
            var parameters = new UcpParams { FieldMask = Ucp.ParamFieldFeatures, Features = Ucp.FeatureRma | Ucp.FeatureAm };
            Ucp.Check(Ucp.ucp_init_version(Ucp.ApiMajor, Ucp.ApiMinor, &parameters, config, out context), "ucp_init");
            var workerParameters = new UcpWorkerParams { FieldMask = Ucp.WorkerParamFieldThreadMode, ThreadMode = Ucp.ThreadModeSingle };
            Ucp.Check(Ucp.ucp_worker_create(context, &workerParameters, out worker), "ucp_worker_create");
            Ucp.Check(Ucp.ucp_worker_get_address(worker, out var address, out var length), "ucp_worker_get_address");
            var bytes = new ReadOnlySpan<byte>((void*)address, checked((int)length)).ToArray();
            Ucp.ucp_worker_release_address(worker, address);
            return new UcxNode(context, worker, bytes, options.Transports ?? Environment.GetEnvironmentVariable("UCX_TLS") ?? "", options.PeerErrors);
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
        _wake.Set();
    }

    private void Run()
    {
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
            if (active || _pending.Count > 0) { lastActivity = Environment.TickCount64; continue; }
            if (Environment.TickCount64 - lastActivity < SpinAfterActivity.TotalMilliseconds) { Thread.Yield(); continue; }
            _wake.Wait(1); // idle: nap, but wake at once for a call, and at least every millisecond for peers' requests
            _wake.Reset();
        }
    }

    public void Dispose()
    {
        if (_stopping) return;
        _stopping = true;
        _wake.Set();
        _thread.Join();
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
public sealed record UcxOptions(string? Transports = null, bool PeerErrors = true);
