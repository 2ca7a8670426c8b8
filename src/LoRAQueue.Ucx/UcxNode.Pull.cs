using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using LoRAQueue.Ucx.Interop;

namespace LoRAQueue.Ucx;

/// <summary>
/// Pulls with active messages: the reader asks (a small AM carrying the range), the holder answers with the bytes as an
/// AM of its own, which UCX sends by rendezvous for large ranges — zero-copy where the transport allows. Over <c>tcp</c>
/// this runs at the socket's speed, where UCX 1.13 only emulates GET. The holder serves only ranges inside regions it
/// registered.
/// </summary>
public sealed unsafe partial class UcxNode
{
    private const uint PullRequestId = 0x4c51, PullDataId = 0x4c52;

    [StructLayout(LayoutKind.Sequential)]
    private struct PullRequestHeader
    {
        public ulong Id;
        public ulong Address;
        public ulong Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PullDataHeader
    {
        public ulong Id;
        public long Status; // 0, or why the holder refused
    }

    private sealed record PendingPull(nint Endpoint, nint Buffer, nuint Length, TaskCompletionSource Done);

    private readonly ConcurrentDictionary<ulong, PendingPull> _pulls = new();
    private readonly ConcurrentDictionary<nint, nuint> _served = new(); // registered regions: address → length
    private GCHandle _self;
    private long _nextPull;

    /// <summary>Installs the two AM handlers on the progress thread; called once at creation.</summary>
    private void InstallPullHandlers()
    {
        _self = GCHandle.Alloc(this);
        Post(() =>
        {
            foreach (var (id, callback) in new[]
                     {
                         (PullRequestId, (nint)(delegate* unmanaged<nint, void*, nuint, void*, nuint, UcpAmRecvParam*, int>)&OnPullRequest),
                         (PullDataId, (nint)(delegate* unmanaged<nint, void*, nuint, void*, nuint, UcpAmRecvParam*, int>)&OnPullData),
                     })
            {
                var parameters = new UcpAmHandlerParam
                {
                    FieldMask = Ucp.AmHandlerParamFieldId | Ucp.AmHandlerParamFieldCb | Ucp.AmHandlerParamFieldArg | Ucp.AmHandlerParamFieldFlags,
                    Id = id, Cb = callback, Arg = GCHandle.ToIntPtr(_self), Flags = Ucp.AmFlagWholeMsg,
                };
                Ucp.Check(Ucp.ucp_worker_set_am_recv_handler(_worker, &parameters), "ucp_worker_set_am_recv_handler");
            }
        });
    }

    internal void Serve(nint address, nuint length) => _served[address] = length;

    /// <summary>The peer behind <paramref name="endpoint"/> failed: its unanswered pulls never will be.</summary>
    private void FailPulls(nint endpoint, int status)
    {
        foreach (var (id, pull) in _pulls.Where(p => p.Value.Endpoint == endpoint).ToList())
            if (_pulls.TryRemove(id, out _))
                pull.Done.TrySetException(new UcxException($"the peer failed: {Ucp.Describe(status)}", status));
    }

    internal void StopServing(nint address) => _served.TryRemove(address, out _);

    /// <summary>Asks the peer behind <paramref name="endpoint"/> for <paramref name="length"/> bytes at its
    /// <paramref name="remoteAddress"/> and receives them into <paramref name="buffer"/>.</summary>
    internal Task PullAsync(nint endpoint, ulong remoteAddress, nint buffer, nuint length)
    {
        ulong id = (ulong)Interlocked.Increment(ref _nextPull);
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _pulls[id] = new PendingPull(endpoint, buffer, length, done);
        Post(() =>
        {
            var header = (PullRequestHeader*)NativeMemory.Alloc((nuint)sizeof(PullRequestHeader));
            *header = new PullRequestHeader { Id = id, Address = remoteAddress, Length = length };
            var parameters = new UcpRequestParam { OpAttrMask = Ucp.OpAttrFieldFlags, Flags = Ucp.AmSendFlagReply };
            nint request = Ucp.ucp_am_send_nbx(endpoint, PullRequestId, header, (nuint)sizeof(PullRequestHeader), null, 0, &parameters);
            Track(request, "pull request", () => NativeMemory.Free(header), failed: e =>
            {
                NativeMemory.Free(header);
                _pulls.TryRemove(id, out _);
                done.TrySetException(e);
            });
        });
        return done.Task;
    }

    [UnmanagedCallersOnly]
    private static int OnPullRequest(nint arg, void* header, nuint headerLength, void* data, nuint length, UcpAmRecvParam* param)
    {
        var node = (UcxNode)GCHandle.FromIntPtr(arg).Target!;
        if (headerLength < (nuint)sizeof(PullRequestHeader) || param->ReplyEp == 0) return Ucp.Ok;
        node.Answer(*(PullRequestHeader*)header, param->ReplyEp);
        return Ucp.Ok;
    }

    /// <summary>Sends the requested range back, or a refusal when it is not inside a region this node serves.</summary>
    private void Answer(PullRequestHeader request, nint replyEndpoint)
    {
        bool served = _served.Any(r => request.Address >= (ulong)r.Key && request.Address + request.Length <= (ulong)r.Key + r.Value);
        var header = (PullDataHeader*)NativeMemory.Alloc((nuint)sizeof(PullDataHeader));
        *header = new PullDataHeader { Id = request.Id, Status = served ? Ucp.Ok : -1 };
        var parameters = new UcpRequestParam();
        nint reply = Ucp.ucp_am_send_nbx(replyEndpoint, PullDataId, header, (nuint)sizeof(PullDataHeader),
                                         served ? (void*)request.Address : null, served ? (nuint)request.Length : 0, &parameters);
        Track(reply, "pull answer", () => NativeMemory.Free(header), failed: _ => NativeMemory.Free(header));
    }

    [UnmanagedCallersOnly]
    private static int OnPullData(nint arg, void* header, nuint headerLength, void* data, nuint length, UcpAmRecvParam* param)
    {
        var node = (UcxNode)GCHandle.FromIntPtr(arg).Target!;
        if (headerLength < (nuint)sizeof(PullDataHeader)) return Ucp.Ok;
        var answer = *(PullDataHeader*)header;
        if (!node._pulls.TryRemove(answer.Id, out var pull)) return Ucp.Ok; // given up on already
        if (answer.Status != 0 || length != pull.Length)
        {
            pull.Done.TrySetException(new UcxException(answer.Status != 0
                ? "the peer does not serve that range (not inside a region it registered)"
                : $"the peer sent {length} bytes for a pull of {pull.Length}", (int)answer.Status));
            return Ucp.Ok;
        }
        if ((param->RecvAttr & Ucp.AmRecvAttrFlagRndv) == 0)
        {
            Buffer.MemoryCopy(data, (void*)pull.Buffer, (long)pull.Length, (long)length); // eager: the bytes are here
            pull.Done.TrySetResult();
            return Ucp.Ok;
        }
        var parameters = new UcpRequestParam();
        nint receive = Ucp.ucp_am_recv_data_nbx(node._worker, (nint)data, (void*)pull.Buffer, length, &parameters);
        node.Track(receive, "pull receive", () => pull.Done.TrySetResult(), failed: e => pull.Done.TrySetException(e));
        return Ucp.Ok;
    }
}
