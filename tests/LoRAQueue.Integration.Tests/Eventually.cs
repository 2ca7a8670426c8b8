namespace LoRAQueue.Integration.Tests;

/// <summary>Bounded polling: asks until the answer is good or the deadline passes, then fails saying what it waited for.</summary>
public static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public static async Task<T> WaitAsync<T>(Func<Task<T>> probe, Func<T, bool> done, string what, TimeSpan? timeout = null,
                                             Func<string>? diagnostics = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        var delay = TimeSpan.FromMilliseconds(50);
        T last;
        while (true)
        {
            last = await probe();
            if (done(last)) return last;
            if (DateTime.UtcNow >= deadline) break;
            await Task.Delay(delay);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 1.5, 200));
        }
        throw new TimeoutException($"waited {(timeout ?? DefaultTimeout).TotalSeconds:F0} s for {what}; last seen: {Describe(last)}"
                                   + (diagnostics is null ? "" : Environment.NewLine + diagnostics()));
    }

    private static string Describe<T>(T value) => value switch
    {
        null => "nothing",
        System.Collections.IEnumerable items and not string => string.Join("; ", items.Cast<object?>().Select(i => i?.ToString())),
        _ => value.ToString() ?? "",
    };
}
