namespace LoRAQueue.Testing;

/// <summary>Bounded polling for every test project (never a fixed sleep as synchronisation): asks until the answer is good
/// or the deadline passes, then fails with <see cref="TimeoutException"/> saying what it waited for and what it last saw.</summary>
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

    /// <summary>Until <paramref name="condition"/> holds.</summary>
    public static Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null, Func<string>? diagnostics = null) =>
        WaitAsync(condition, ok => ok, what, timeout, diagnostics);

    /// <summary>Until <paramref name="condition"/> holds; false (no exception) when the deadline passes first.</summary>
    public static async Task<bool> HoldsWithinAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        try
        {
            await UntilAsync(condition, "a condition", timeout);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private static string Describe<T>(T value) => value switch
    {
        null => "nothing",
        System.Collections.IEnumerable items and not string => string.Join("; ", items.Cast<object?>().Select(i => i?.ToString())),
        _ => value.ToString() ?? "",
    };
}
