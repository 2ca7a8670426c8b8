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

/// <summary>Why a source was passed over.</summary>
public enum PullSkipReason { Timeout, DigestMismatch, Unreachable, Error }

/// <summary>A source passed over during a pull: which, why, and what it said.</summary>
public sealed record PullSkip(string Source, PullSkipReason Reason, string Message)
{
    public override string ToString() => $"{Source}: {Message}";
}

/// <summary>A peer source's peer is gone or refuses (its transport said so), as opposed to serving wrong bytes.</summary>
public sealed class PeerUnreachableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The bytes arrived from <see cref="Source"/>, after <see cref="Skipped"/> (each with why).</summary>
public sealed record PullOutcome(PullSourceKind Kind, string Source, TimeSpan Elapsed, IReadOnlyList<PullSkip> Skipped);

/// <summary>
/// Pulls an adapter's bytes into a caller's buffer from the first source that delivers them intact: each source in turn
/// (peers least busy first, then the store), each bounded by a timeout, each result checked file by file against the
/// registered SHA-256s. A peer that fails, hangs or serves other bytes is skipped for the next one: a job never fails
/// because a peer did — only when the store itself cannot give the registered bytes.
/// </summary>
/// <param name="stopGrace">How long a source that was given up on has to stop (it must not write into the buffer
/// afterwards); 10 s when not given.</param>
public sealed class AdapterPuller(TimeSpan perSourceTimeout, TimeProvider? time = null, TimeSpan? stopGrace = null)
{
    private readonly TimeSpan _stopGrace = stopGrace ?? TimeSpan.FromSeconds(10);

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public async Task<PullOutcome> PullAsync(IReadOnlyList<PulledFile> files, IReadOnlyList<IPullSource> sources, Memory<byte> destination,
                                             CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(files);
        ArgumentNullException.ThrowIfNull(sources);
        long total = files.Sum(f => f.Size);
        if (destination.Length != total) throw new ArgumentException($"the buffer holds {destination.Length} bytes; the files {total}", nameof(destination));
        var skipped = new List<PullSkip>();
        long started = _time.GetTimestamp();
        foreach (var source in sources)
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(perSourceTimeout);
            var read = Task.CompletedTask;
            try
            {
                read = source.ReadAsync(destination, deadline.Token);
                await read.WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                skipped.Add(new PullSkip(source.Name, PullSkipReason.Timeout, $"no answer within {perSourceTimeout.TotalSeconds:0.#} s"));
                // The next source writes into the same buffer: only once this one has stopped.
                if (!await StoppedAsync(read).ConfigureAwait(false))
                    throw new PullFailedException($"{source.Name} did not stop within {_stopGrace.TotalSeconds:0.#} s of being given up on", skipped)
                        { BufferAbandoned = true };
                continue;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                skipped.Add(new PullSkip(source.Name, e is PeerUnreachableException ? PullSkipReason.Unreachable : PullSkipReason.Error, e.Message));
                continue;
            }
            if (Mismatch(files, destination.Span) is { } mismatch)
            {
                skipped.Add(new PullSkip(source.Name, PullSkipReason.DigestMismatch, mismatch));
                continue;
            }
            return new PullOutcome(source.Kind, source.Name, _time.GetElapsedTime(started), skipped);
        }
        throw new PullFailedException($"no source gave the registered bytes ({string.Join("; ", skipped)})", skipped);
    }

    private async Task<bool> StoppedAsync(Task read)
    {
        try
        {
            await read.WaitAsync(_stopGrace).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return false;
        }
        catch (Exception)
        {
            // stopped, with the error it was cancelled with
        }
        return true;
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
public sealed class PullFailedException(string message, IReadOnlyList<PullSkip> skipped) : Exception(message)
{
    public IReadOnlyList<PullSkip> Skipped { get; } = skipped;

    /// <summary>A source given up on may still write into the buffer: the caller must not reuse it.</summary>
    public bool BufferAbandoned { get; init; }
}

/// <summary>Concurrent needs for one adapter share one pull: the first caller starts it, the others await the same task;
/// once it ends (either way) the next need starts afresh.</summary>
public sealed class SharedPulls<TKey, TResult> where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, Lazy<Task<TResult>>> _inFlight = new();

    public async Task<TResult> RunAsync(TKey key, Func<Task<TResult>> pull)
    {
        var shared = _inFlight.GetOrAdd(key, _ => new Lazy<Task<TResult>>(pull));
        try
        {
            return await shared.Value.ConfigureAwait(false);
        }
        finally
        {
            _inFlight.TryRemove(new KeyValuePair<TKey, Lazy<Task<TResult>>>(key, shared));
        }
    }

    public int InFlight => _inFlight.Count;
}
