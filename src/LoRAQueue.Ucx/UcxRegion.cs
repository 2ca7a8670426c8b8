namespace LoRAQueue.Ucx;

/// <summary>Memory registered with UCX for peers to read: its address, length and the packed remote key a peer unpacks.</summary>
public sealed class UcxRegion : IDisposable
{
    private readonly UcxNode _node;
    private readonly nint _memh;
    private int _disposed;

    internal UcxRegion(UcxNode node, nint memh, nint address, nuint length, byte[] packedRkey)
    {
        _node = node;
        _memh = memh;
        Address = address;
        Length = length;
        PackedRkey = packedRkey;
    }

    public nint Address { get; }
    public nuint Length { get; }
    public byte[] PackedRkey { get; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _node.Unmap(_memh, Address);
    }
}

/// <summary>An endpoint to another node, and the remote keys unpacked for it.</summary>
public sealed class UcxPeer : IAsyncDisposable
{
    private readonly UcxNode _node;
    private readonly nint _endpoint;
    private readonly Dictionary<string, Task<nint>> _rkeys = [];
    private readonly Lock _lock = new();

    internal UcxPeer(UcxNode node, nint endpoint)
    {
        _node = node;
        _endpoint = endpoint;
    }

    /// <summary>Reads <paramref name="destination"/>.Length bytes at <paramref name="remoteAddress"/> of the peer's region
    /// whose packed remote key is <paramref name="packedRkey"/>, with a one-sided GET (emulated by UCX where the transport
    /// has no RMA). Throws <see cref="UcxException"/> when the peer is gone.</summary>
    public async Task GetAsync(ulong remoteAddress, byte[] packedRkey, Memory<byte> destination)
    {
        nint rkey = await RkeyAsync(packedRkey);
        using var pin = destination.Pin();
        await _node.GetAsync(_endpoint, rkey, remoteAddress, AddressOf(pin), (nuint)destination.Length);
    }

    /// <summary>As above, into native memory the caller keeps alive until the task ends.</summary>
    public async Task GetAsync(ulong remoteAddress, byte[] packedRkey, nint destination, nuint length)
    {
        nint rkey = await RkeyAsync(packedRkey);
        await _node.GetAsync(_endpoint, rkey, remoteAddress, destination, length);
    }

    /// <summary>Pulls <paramref name="destination"/>.Length bytes at <paramref name="remoteAddress"/> with active messages: the
    /// peer sends them (rendezvous for large ranges). The fast way over tcp; works over every transport.</summary>
    public async Task PullAsync(ulong remoteAddress, Memory<byte> destination)
    {
        using var pin = destination.Pin();
        await _node.PullAsync(_endpoint, remoteAddress, AddressOf(pin), (nuint)destination.Length);
    }

    private static unsafe nint AddressOf(System.Buffers.MemoryHandle pin) => (nint)pin.Pointer;

    private Task<nint> RkeyAsync(byte[] packedRkey)
    {
        string key = Convert.ToHexString(packedRkey);
        lock (_lock)
        {
            if (!_rkeys.TryGetValue(key, out var rkey)) _rkeys[key] = rkey = _node.UnpackAsync(_endpoint, packedRkey);
            return rkey;
        }
    }

    public async ValueTask DisposeAsync()
    {
        List<Task<nint>> rkeys;
        lock (_lock) { rkeys = [.. _rkeys.Values]; _rkeys.Clear(); }
        foreach (var rkey in rkeys.Where(r => r.IsCompletedSuccessfully)) _node.DestroyRkey(rkey.Result);
        await _node.CloseAsync(_endpoint);
    }
}
