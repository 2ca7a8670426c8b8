using System.Security.Cryptography;
using System.Text;

namespace LoRAQueue.Webhooks.Tests;

public sealed class SignatureTests
{
    [Fact]
    public void Matches_the_Standard_Webhooks_reference_vector()
    {
        // From the Standard Webhooks reference libraries' tests.
        string header = WebhookSignature.Sign(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                              1614265330, """{"test": 2432232314}""");
        Assert.Equal("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", header);
    }

    [Fact]
    public void Signature_is_HMAC_SHA256_of_id_timestamp_body_with_the_decoded_secret()
    {
        string secret = WebhookSignature.NewSecret();
        const string id = "0190f0c4-5d7e-7c2a-9f00-000000000001", body = """{"type":"job.completed","data":{"text":"héllo"}}""";
        string header = WebhookSignature.Sign([secret], id, 1_700_000_000, body);

        byte[] key = Convert.FromBase64String(secret["whsec_".Length..]);
        string expected = "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{id}.1700000000.{body}")));
        Assert.Equal(expected, header);
        Assert.False(IndependentVerifier.Verifies(secret, id, "1700000001", body, header)); // the timestamp is covered
        Assert.False(IndependentVerifier.Verifies(secret, id, "1700000000", body + " ", header)); // so is the body
    }

    [Fact]
    public void During_rotation_both_secrets_sign_current_first()
    {
        string current = WebhookSignature.NewSecret(), previous = WebhookSignature.NewSecret();
        string header = WebhookSignature.Sign([current, previous], "id-1", 42, "{}");

        string[] entries = header.Split(' ');
        Assert.Equal(2, entries.Length);
        Assert.Equal(WebhookSignature.Sign([current], "id-1", 42, "{}"), entries[0]);
        Assert.Equal(WebhookSignature.Sign([previous], "id-1", 42, "{}"), entries[1]);
        Assert.True(IndependentVerifier.Verifies(current, "id-1", "42", "{}", header));
        Assert.True(IndependentVerifier.Verifies(previous, "id-1", "42", "{}", header));
        Assert.False(IndependentVerifier.Verifies(WebhookSignature.NewSecret(), "id-1", "42", "{}", header));
    }

    [Fact]
    public void New_secrets_are_whsec_and_32_random_bytes()
    {
        string a = WebhookSignature.NewSecret(), b = WebhookSignature.NewSecret();
        Assert.StartsWith("whsec_", a);
        Assert.Equal(32, Convert.FromBase64String(a["whsec_".Length..]).Length);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Bad_secrets_are_refused_with_a_clear_error()
    {
        var notBase64 = Assert.Throws<FormatException>(() => WebhookSignature.Sign(["whsec_not*base64!"], "id", 1, "{}"));
        Assert.Contains("base64", notBase64.Message);
        Assert.Throws<ArgumentException>(() => WebhookSignature.Sign([], "id", 1, "{}"));
    }
}
