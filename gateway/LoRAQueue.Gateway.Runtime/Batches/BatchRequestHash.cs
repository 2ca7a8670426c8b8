using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace LoRAQueue.Gateway.Batches;

/// <summary>
/// What tells a retry of a batch submission from another request under the same Idempotency-Key: SHA-256 over the body
/// and the batch's query settings (webhook_url, metadata.*), each part length-prefixed so no two requests share an
/// encoding. Metadata is hashed in key order: the parameters' order in the URL does not matter, their values do.
/// </summary>
public static class BatchRequestHash
{
    public static byte[] Of(ReadOnlySpan<byte> body, string? webhookUrl, IReadOnlyDictionary<string, string>? metadata)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Append(hash, body);
        Append(hash, webhookUrl);
        var entries = metadata?.OrderBy(e => e.Key, StringComparer.Ordinal).ToList() ?? [];
        AppendLength(hash, metadata is null ? -1 : entries.Count);
        foreach (var (key, value) in entries)
        {
            Append(hash, key);
            Append(hash, value);
        }
        return hash.GetHashAndReset();
    }

    private static void Append(IncrementalHash hash, string? text)
    {
        if (text is null) AppendLength(hash, -1);
        else Append(hash, Encoding.UTF8.GetBytes(text));
    }

    private static void Append(IncrementalHash hash, ReadOnlySpan<byte> bytes)
    {
        AppendLength(hash, bytes.Length);
        hash.AppendData(bytes);
    }

    private static void AppendLength(IncrementalHash hash, long length)
    {
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(prefix, length);
        hash.AppendData(prefix);
    }
}
