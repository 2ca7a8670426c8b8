using System.Security.Cryptography;
using System.Text;

namespace LoRAQueue.Gateway.Batches;

/// <summary>
/// The job id of a batch line: a name-based UUID (RFC 4122 version 5) with the batch id as namespace and the line's
/// custom_id as name. A retry of the same batch gives every line the id it had, so the gateway can tell which lines an
/// interrupted submission already queued.
/// </summary>
public static class BatchJobIds
{
    public static Guid Of(Guid batchId, string customId) => NameBased(batchId, customId);

    /// <summary>RFC 4122 §4.3 with SHA-1: the first 16 bytes of SHA-1(namespace in network order ‖ UTF-8 name), with
    /// the version (5) and variant (10xx) bits set.</summary>
    public static Guid NameBased(Guid @namespace, string name)
    {
        var input = new byte[16 + Encoding.UTF8.GetByteCount(name)];
        @namespace.TryWriteBytes(input, bigEndian: true, out _);
        Encoding.UTF8.GetBytes(name, input.AsSpan(16));
        Span<byte> hash = stackalloc byte[SHA1.HashSizeInBytes];
        SHA1.HashData(input, hash);
        hash[6] = (byte)((hash[6] & 0x0f) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3f) | 0x80);
        return new Guid(hash[..16], bigEndian: true);
    }
}
