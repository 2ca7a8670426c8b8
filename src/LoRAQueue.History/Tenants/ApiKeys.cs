using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace LoRAQueue.History.Tenants;

/// <summary>
/// API keys: "lq_" + 32 random bytes (RandomNumberGenerator) in URL-safe base64. The database keeps only the SHA-256
/// of the whole key and its first <see cref="PrefixLength"/> characters, so a leaked table reveals no usable key.
/// </summary>
public static class ApiKeys
{
    public const string Scheme = "lq_";
    public const int PrefixLength = 11; // "lq_" + 8 characters: enough to tell keys apart in a listing

    public static string Generate() => Scheme + Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    public static byte[] Hash(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return SHA256.HashData(Encoding.UTF8.GetBytes(key));
    }

    public static string PrefixOf(string key) => key.Length <= PrefixLength ? key : key[..PrefixLength];

    /// <summary>True when <paramref name="text"/> has the shape of a whole key (not just a prefix).</summary>
    public static bool LooksLikeKey(string text) => text.StartsWith(Scheme, StringComparison.Ordinal) && text.Length > PrefixLength + 8;
}

/// <summary>Webhook signing secrets in the Standard Webhooks form: "whsec_" + base64 of 32 random bytes.
/// (The webhooks library signs with them; it sits above this assembly, so the format is spelled out here too.)</summary>
public static class WebhookSecrets
{
    public const string Prefix = "whsec_";

    public static string New() => Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
}
