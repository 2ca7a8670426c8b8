namespace LoRAQueue.Twin;

/// <summary>The virtual clock: events run in time order (ties in the order they were scheduled), each at its own
/// <see cref="Now"/>. Nothing sleeps; a simulated hour takes as long as its events take to run.</summary>
public sealed class EventQueue
{
    private readonly PriorityQueue<Action, (double Time, long Sequence)> _events = new();
    private long _sequence;

    public double Now { get; private set; }
    public long Processed { get; private set; }

    public void At(double time, Action action)
    {
        if (time < Now) throw new ArgumentOutOfRangeException(nameof(time), $"event at {time} s is before now ({Now} s)");
        _events.Enqueue(action, (time, _sequence++));
    }

    public void After(double delay, Action action) => At(Now + Math.Max(0, delay), action);

    /// <summary>Runs events until none is left or the next is after <paramref name="until"/>.</summary>
    public void Run(double until = double.PositiveInfinity)
    {
        while (_events.TryPeek(out _, out var key) && key.Time <= until)
        {
            var action = _events.Dequeue();
            Now = key.Time;
            action();
            Processed++;
        }
    }
}
