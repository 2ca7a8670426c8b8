using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace LoRAQueue.Core.Residency;

/// <summary>Where a pull's bytes came from, in the order they are tried after the worker's own tiers.</summary>
public enum PullSourceKind { Peer, Store }

/// <summary>One place an adapter's bytes can be read from: a peer's host cache (over UCX) or the adapter store. The bytes
/// are the adapter's files concatenated in the manifest's order. A source must not write into the buffer once its read
/// has ended, cancelled included (a UCX source cancels its request): the next source writes there.</summary>
public interface IPullSource
{
    PullSourceKind Kind { get; }
    /// <summary>The peer's worker id, or "store".</summary>
    string Name { get; }
    Task ReadAsync(Memory<byte> destination, CancellationToken ct);
}

/// <summary>One file of the bytes being pulled: its length and SHA-256 (hex), in the order the files are laid out.</summary>
public readonly record struct PulledFile(string Path, long Size, string Sha256);

/// <summary>The bytes arrived from <see cref="Source"/>, after <see cref="Skipped"/> (each with why).</summary>
public sealed record PullOutcome(PullSourceKind Kind, string Source, TimeSpan Elapsed, IReadOnlyList<string> Skipped);

/// <summary>
/// Pulls an adapter's bytes into a caller's buffer from the first source that delivers them intact: each source in turn
/// (peers least busy first, then the store), each bounded by a timeout, each result checked file by file against the
/// registered SHA-256s. A peer that fails, hangs or serves other bytes is skipped for the next one: a job never fails
/// because a peer did — only when the store itself cannot give the registered bytes.
/// </summary>
public sealed class AdapterPuller(TimeSpan perSourceTimeout, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public async Task<PullOutcome> PullAsync(IReadOnlyList<PulledFile> files, IReadOnlyList<IPullSource> sources, Memory<byte> destination,
                                             CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(sources);
        long total = files.Sum(f => f.Size);
        if (destination.Length != total) throw new ArgumentException($"the buffer holds {destination.Length} bytes; the files {total}", nameof(destination));
        var skipped = new List<string>();
        long started = _time.GetTimestamp();
        foreach (var source in sources)
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(perSourceTimeout);
            try
            {
                await source.ReadAsync(destination, deadline.Token).WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                skipped.Add($"{source.Name}: no answer within {perSourceTimeout.TotalSeconds:0.#} s");
                continue;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                skipped.Add($"{source.Name}: {e.Message}");
                continue;
            }
            if (Mismatch(files, destination.Span) is { } mismatch)
            {
                skipped.Add($"{source.Name}: {mismatch}");
                continue;
            }
            return new PullOutcome(source.Kind, source.Name, _time.GetElapsedTime(started), skipped);
        }
        throw new PullFailedException($"no source gave the registered bytes ({string.Join("; ", skipped)})", skipped);
    }

    /// <summary>Null when every file's bytes hash to its registered SHA-256; otherwise the first that does not.</summary>
    public static string? Mismatch(IReadOnlyList<PulledFile> files, ReadOnlySpan<byte> bytes)
    {
        long offset = 0;
        foreach (var file in files)
        {
            var hash = Convert.ToHexStringLower(SHA256.HashData(bytes.Slice((int)offset, (int)file.Size)));
            if (!string.Equals(hash, file.Sha256, StringComparison.OrdinalIgnoreCase)) return $"{file.Path} does not match its digest";
            offset += file.Size;
        }
        return null;
    }
}

/// <summary>No source gave an adapter's registered bytes; <see cref="Skipped"/> says why each was passed over.</summary>
public sealed class PullFailedException(string message, IReadOnlyList<string> skipped) : Exception(message)
{
    public IReadOnlyList<string> Skipped { get; } = skipped;
}

/// <summary>Concurrent needs for one adapter share one pull: the first caller starts it, the others await the same task;
/// once it ends (either way) the next need starts afresh.</summary>
public sealed class SharedPulls<TKey> where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, Lazy<Task<PullOutcome>>> _inFlight = new();

    public async Task<PullOutcome> RunAsync(TKey key, Func<Task<PullOutcome>> pull)
    {
        var shared = _inFlight.GetOrAdd(key, _ => new Lazy<Task<PullOutcome>>(pull));
        try
        {
            return await shared.Value.ConfigureAwait(false);
        }
        finally
        {
            _inFlight.TryRemove(new KeyValuePair<TKey, Lazy<Task<PullOutcome>>>(key, shared));
        }
    }

    public int InFlight => _inFlight.Count;
}
