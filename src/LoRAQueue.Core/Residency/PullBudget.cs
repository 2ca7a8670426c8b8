namespace LoRAQueue.Core.Residency;

/// <summary>
/// Bounds the bytes of pulls in flight on a worker: a pull waits until its bytes fit under the budget, so a placement
/// that adds many adapters at once does not open them all together. A pull larger than the whole budget runs alone.
/// </summary>
public sealed class PullBudget(long budgetBytes)
{
    private readonly Lock _lock = new();
    private readonly LinkedList<(long Bytes, TaskCompletionSource Ready)> _waiting = [];
    private long _inFlight;

    public long BudgetBytes { get; } = budgetBytes > 0 ? budgetBytes : throw new ArgumentOutOfRangeException(nameof(budgetBytes));
    public long InFlightBytes { get { lock (_lock) return _inFlight; } }

    /// <summary>Waits (first come, first served) until <paramref name="bytes"/> fit; dispose the result when the pull ends.</summary>
    public async Task<IDisposable> AcquireAsync(long bytes, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        LinkedListNode<(long, TaskCompletionSource)> node;
        lock (_lock)
        {
            if (_waiting.Count == 0 && Fits(bytes))
            {
                _inFlight += bytes;
                return new Lease(this, bytes);
            }
            node = _waiting.AddLast((bytes, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)));
        }
        try
        {
            await node.Value.Item2.Task.WaitAsync(ct).ConfigureAwait(false);
            return new Lease(this, bytes);
        }
        catch (OperationCanceledException)
        {
            lock (_lock)
            {
                if (node.List is not null) _waiting.Remove(node); // still waiting: nothing was taken
                else { _inFlight -= bytes; WakeLocked(); }       // admitted as it was cancelled: give it back
            }
            throw;
        }
    }

    private bool Fits(long bytes) => _inFlight == 0 || _inFlight + bytes <= BudgetBytes;

    private void Release(long bytes)
    {
        lock (_lock)
        {
            _inFlight -= bytes;
            WakeLocked();
        }
    }

    private void WakeLocked()
    {
        while (_waiting.First is { } first && Fits(first.Value.Bytes))
        {
            _waiting.RemoveFirst();
            _inFlight += first.Value.Bytes;
            first.Value.Ready.TrySetResult();
        }
    }

    private sealed class Lease(PullBudget owner, long bytes) : IDisposable
    {
        private int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) owner.Release(bytes);
        }
    }
}
