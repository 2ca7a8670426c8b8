using System.Diagnostics;
using System.Runtime.InteropServices;

namespace LoRAQueue.Engine;

/// <summary>
/// Sleeps until a <see cref="Stopwatch"/> timestamp without spinning. On Linux: <c>clock_nanosleep(CLOCK_MONOTONIC,
/// TIMER_ABSTIME)</c> to the deadline, with the calling thread's timer slack set to 1 µs (the default 50 µs slack is added to
/// every wake-up), so a wake-up is late by the kernel's scheduling latency only (tens of µs on an idle machine) where
/// Thread.Sleep rounds to whole milliseconds and is late by ~0.1–1 ms. Elsewhere: Thread.Sleep short of the deadline, then
/// yields until it. Never returns before the deadline.
/// </summary>
public static unsafe class DeadlineSleep
{
    private const int ClockMonotonic = 1, TimerAbsTime = 1, EIntr = 4, PrSetTimerSlack = 29;

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    private static readonly delegate* unmanaged<int, Timespec*, int> s_clockGetTime;
    private static readonly delegate* unmanaged<int, int, Timespec*, Timespec*, int> s_clockNanosleep;
    private static readonly delegate* unmanaged<int, nuint, nuint, nuint, nuint, int> s_prctl;
    [ThreadStatic] private static bool t_slackSet;

    static DeadlineSleep()
    {
        if (!OperatingSystem.IsLinux() || IntPtr.Size != 8) return;
        if (!NativeLibrary.TryLoad("libc.so.6", out var libc) && !NativeLibrary.TryLoad("libc", out libc)) return;
        if (NativeLibrary.TryGetExport(libc, "clock_gettime", out var get) && NativeLibrary.TryGetExport(libc, "clock_nanosleep", out var sleep))
        {
            s_clockGetTime = (delegate* unmanaged<int, Timespec*, int>)get;
            s_clockNanosleep = (delegate* unmanaged<int, int, Timespec*, Timespec*, int>)sleep;
        }
        if (NativeLibrary.TryGetExport(libc, "prctl", out var prctl)) s_prctl = (delegate* unmanaged<int, nuint, nuint, nuint, nuint, int>)prctl;
    }

    /// <summary>"clock_nanosleep" or "Thread.Sleep" (the fallback), for logs and reports.</summary>
    public static string Method => s_clockNanosleep != null ? "clock_nanosleep" : "Thread.Sleep";

    /// <summary>Returns once <see cref="Stopwatch.GetTimestamp"/> ≥ <paramref name="deadline"/>.</summary>
    public static void Until(long deadline)
    {
        long remaining = deadline - Stopwatch.GetTimestamp();
        if (remaining <= 0) return;
        if (s_clockNanosleep != null)
        {
            if (!t_slackSet)
            {
                if (s_prctl != null) s_prctl(PrSetTimerSlack, 1000, 0, 0, 0); // 1 µs, this thread only
                t_slackSet = true;
            }
            Timespec target;
            s_clockGetTime(ClockMonotonic, &target);
            long nanoseconds = target.Nanoseconds + (long)(remaining * (1e9 / Stopwatch.Frequency));
            target.Seconds += nanoseconds / 1_000_000_000;
            target.Nanoseconds = nanoseconds % 1_000_000_000;
            while (s_clockNanosleep(ClockMonotonic, TimerAbsTime, &target, null) == EIntr) { }
        }
        // The same clock (CLOCK_MONOTONIC) underlies Stopwatch on Linux; this loop also covers the fallback and rounding.
        while ((remaining = deadline - Stopwatch.GetTimestamp()) > 0)
        {
            long milliseconds = remaining * 1000 / Stopwatch.Frequency;
            if (milliseconds >= 2) Thread.Sleep((int)(milliseconds - 1));
            else Thread.Yield();
        }
    }
}
