using System.Buffers.Binary;
using System.Buffers.Text;

namespace LoRAQueue.History;

/// <summary>
/// The keyset position (SubmittedAt, JobId) of a page's last job, as an opaque URL-safe string. Order is newest
/// first, ties broken by job id descending, comparing ids as Postgres compares uuids (their bytes in text order).
/// </summary>
internal readonly record struct JobCursor(DateTimeOffset SubmittedAt, Guid JobId)
{
    private const byte Version = 1;

    public static JobCursor Of(JobRecord job) => new(job.SubmittedAt, job.JobId);

    public string Encode()
    {
        Span<byte> bytes = stackalloc byte[25];
        bytes[0] = Version;
        BinaryPrimitives.WriteInt64BigEndian(bytes[1..], SubmittedAt.UtcTicks);
        JobId.TryWriteBytes(bytes[9..], bigEndian: true, out _);
        return Base64Url.EncodeToString(bytes);
    }

    public static JobCursor Decode(string cursor)
    {
        Span<byte> bytes = stackalloc byte[25];
        if (cursor.Length > 64 || !Base64Url.TryDecodeFromChars(cursor, bytes, out int written) || written != 25 || bytes[0] != Version)
            throw new ArgumentException($"'{cursor}' is not a job history cursor (pass the Next of a previous page)", nameof(cursor));
        long ticks = BinaryPrimitives.ReadInt64BigEndian(bytes[1..]);
        if (ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks)
            throw new ArgumentException($"'{cursor}' is not a job history cursor (pass the Next of a previous page)", nameof(cursor));
        return new JobCursor(new DateTimeOffset(ticks, TimeSpan.Zero), new Guid(bytes[9..], bigEndian: true));
    }

    /// <summary>Newest first: negative when <paramref name="a"/> comes before <paramref name="b"/>.</summary>
    public static int CompareNewestFirst(JobRecord a, JobRecord b)
    {
        int byTime = b.SubmittedAt.CompareTo(a.SubmittedAt);
        return byTime != 0 ? byTime : CompareUuid(b.JobId, a.JobId);
    }

    /// <summary>True when <paramref name="job"/> comes after this position in newest-first order.</summary>
    public bool Precedes(JobRecord job) =>
        job.SubmittedAt < SubmittedAt || (job.SubmittedAt == SubmittedAt && CompareUuid(job.JobId, JobId) < 0);

    /// <summary>Postgres orders uuids by their 16 bytes in text (big-endian) order.</summary>
    public static int CompareUuid(Guid a, Guid b)
    {
        Span<byte> x = stackalloc byte[16], y = stackalloc byte[16];
        a.TryWriteBytes(x, bigEndian: true, out _);
        b.TryWriteBytes(y, bigEndian: true, out _);
        return x.SequenceCompareTo(y);
    }
}
