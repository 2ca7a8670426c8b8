using System.Security.Cryptography;
using System.Text;

namespace LoRAQueue.Webhooks;

/// <summary>Standard Webhooks signatures: <c>v1,base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))</c>, one per secret.</summary>
public static class WebhookSignature
{
    public const string SecretPrefix = "whsec_";

    /// <summary>"whsec_" + base64 of 32 random bytes.</summary>
    public static string NewSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>The webhook-signature header value: space-separated "v1,…" entries in the order of
    /// <paramref name="secrets"/> (current first, then the previous one while a rotation is in progress).</summary>
    public static string Sign(IReadOnlyList<string> secrets, string id, long timestamp, string body)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        if (secrets.Count == 0) throw new ArgumentException("at least one webhook secret is needed to sign", nameof(secrets));
        byte[] content = Encoding.UTF8.GetBytes($"{id}.{timestamp}.{body}");
        return string.Join(' ', secrets.Select(secret => "v1," + Convert.ToBase64String(HMACSHA256.HashData(Key(secret), content))));
    }

    /// <summary>The HMAC key: the base64 after "whsec_" (the prefix is optional, as in the Standard Webhooks libraries).</summary>
    internal static byte[] Key(string secret)
    {
        if (string.IsNullOrWhiteSpace(secret)) throw new FormatException("webhook secret is empty");
        string encoded = secret.StartsWith(SecretPrefix, StringComparison.Ordinal) ? secret[SecretPrefix.Length..] : secret;
        byte[] key;
        try
        {
            key = Convert.FromBase64String(encoded);
        }
        catch (FormatException)
        {
            throw new FormatException($"webhook secret '{secret[..Math.Min(secret.Length, 10)]}…' is not '{SecretPrefix}' followed by base64");
        }
        if (key.Length == 0) throw new FormatException("webhook secret decodes to an empty key");
        return key;
    }
}
