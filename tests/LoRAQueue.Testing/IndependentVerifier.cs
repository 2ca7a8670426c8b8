using System.Security.Cryptography;
using System.Text;

namespace LoRAQueue.Testing;

/// <summary>Checks a Standard Webhooks signature the way a receiver would, without the library's signing code.</summary>
public static class IndependentVerifier
{
    public static bool Verifies(string secret, string id, string timestamp, string body, string signatureHeader)
    {
        byte[] key = Convert.FromBase64String(secret["whsec_".Length..]);
        byte[] expected = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(id + "." + timestamp + "." + body));
        foreach (string entry in signatureHeader.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            string[] parts = entry.Split(',', 2);
            if (parts.Length == 2 && parts[0] == "v1"
                && CryptographicOperations.FixedTimeEquals(Convert.FromBase64String(parts[1]), expected)) return true;
        }
        return false;
    }
}
