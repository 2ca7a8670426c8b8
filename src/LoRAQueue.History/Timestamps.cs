namespace LoRAQueue.History;

/// <summary>Postgres keeps microseconds; both stores cut timestamps to that so they compare and page alike.</summary>
internal static class Timestamps
{
    public static DateTimeOffset Normalize(DateTimeOffset value)
    {
        long ticks = value.UtcTicks;
        return new DateTimeOffset(ticks - ticks % TimeSpan.TicksPerMicrosecond, TimeSpan.Zero);
    }

    public static DateTimeOffset? Normalize(DateTimeOffset? value) => value is { } v ? Normalize(v) : null;

    public static DateTimeOffset FromUtc(DateTime utc) => Normalize(new DateTimeOffset(DateTime.SpecifyKind(utc, DateTimeKind.Utc)));

    public static DateTimeOffset? FromUtc(DateTime? utc) => utc is { } v ? FromUtc(v) : null;
}
