using System.Text;
using LoRAQueue.Gateway.Batches;

namespace LoRAQueue.Gateway.Tests;

public sealed class BatchJobIdsTests
{
    private static readonly Guid Batch = Guid.Parse("0190a5c2-7a3e-7b1d-9c4f-2e8d6b0a1f35");

    [Fact]
    public void The_name_based_uuid_is_rfc_4122_version_5()
    {
        // RFC 4122's DNS namespace and a name every uuid5 implementation agrees on (Python: uuid.uuid5(uuid.NAMESPACE_DNS, ...)).
        var dns = Guid.Parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8");
        Assert.Equal(Guid.Parse("2ed6657d-e927-568b-95e1-2665a8aea6a2"), BatchJobIds.NameBased(dns, "www.example.com"));
    }

    [Fact]
    public void The_same_batch_and_custom_id_give_the_same_id()
    {
        Assert.Equal(BatchJobIds.Of(Batch, "c-17"), BatchJobIds.Of(Guid.Parse(Batch.ToString()), new StringBuilder("c-").Append(17).ToString()));
    }

    [Fact]
    public void Another_custom_id_or_batch_gives_another_id()
    {
        var ids = new HashSet<Guid>();
        for (int i = 0; i < 1000; i++) Assert.True(ids.Add(BatchJobIds.Of(Batch, $"c{i}")));
        Assert.NotEqual(BatchJobIds.Of(Batch, "a"), BatchJobIds.Of(Batch, "A"));
        Assert.NotEqual(BatchJobIds.Of(Batch, "é"), BatchJobIds.Of(Batch, "e\u0301")); // names are bytes: no normalisation
        Assert.NotEqual(BatchJobIds.Of(Batch, "c1"), BatchJobIds.Of(Guid.Parse("0190a5c2-7a3e-7b1d-9c4f-2e8d6b0a1f36"), "c1"));
    }

    [Theory]
    [InlineData("c1")]
    [InlineData("")]
    [InlineData("a custom id of some length, with spaces and ünïcödé")]
    public void Every_id_has_version_5_and_the_rfc_4122_variant(string customId)
    {
        string text = BatchJobIds.Of(Batch, customId).ToString();
        Assert.Equal('5', text[14]);                 // xxxxxxxx-xxxx-Vxxx-…
        Assert.Contains(text[19], "89ab");           // …-Nxxx-…: variant bits 10
    }
}
