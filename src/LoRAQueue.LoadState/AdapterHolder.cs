namespace LoRAQueue.LoadState;

/// <summary>
/// A worker that holds an adapter's bytes in its host cache, with what a peer needs to read them over UCX: the worker's
/// UCX address, and the region's remote address and packed remote key. Keyed by the adapter's content digest, so any
/// id with the same bytes is served by the same holders.
/// </summary>
public sealed record AdapterHolder
{
    public required string Worker { get; init; }
    public required string Digest { get; init; }
    public required long SizeBytes { get; init; }
    public required byte[] UcxAddress { get; init; }
    public required ulong RemoteAddress { get; init; }
    public required byte[] PackedRkey { get; init; }
    /// <summary>When the holder advertised it (set on write when left default).</summary>
    public DateTimeOffset At { get; init; }
}
