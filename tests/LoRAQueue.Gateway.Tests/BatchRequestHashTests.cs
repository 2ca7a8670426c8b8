using System.Text;
using LoRAQueue.Gateway.Batches;

namespace LoRAQueue.Gateway.Tests;

public sealed class BatchRequestHashTests
{
    [Fact]
    public void The_request_hash_covers_the_body_and_the_batch_settings_but_not_the_order_of_metadata()
    {
        byte[] body = Encoding.UTF8.GetBytes("{\"custom_id\": \"a\", \"prompt\": \"p\"}\n");
        var ab = new Dictionary<string, string> { ["a"] = "1", ["b"] = "2" };
        var ba = new Dictionary<string, string> { ["b"] = "2", ["a"] = "1" };
        Assert.Equal(BatchRequestHash.Of(body, "https://x/h", ab), BatchRequestHash.Of(body, "https://x/h", ba));
        var different = new[]
        {
            BatchRequestHash.Of(body, "https://x/h", ab),
            BatchRequestHash.Of(body, null, ab),
            BatchRequestHash.Of(body, "https://x/h", null),
            BatchRequestHash.Of(body, "https://x/h", new Dictionary<string, string>()),
            BatchRequestHash.Of(body, "https://x/h", new Dictionary<string, string> { ["a"] = "1", ["b"] = "3" }),
            BatchRequestHash.Of(body.AsSpan(1), "https://x/h", ab),
            BatchRequestHash.Of(body, "", null),
        };
        Assert.Equal(different.Length, different.Select(Convert.ToHexString).Distinct().Count());
    }
}
