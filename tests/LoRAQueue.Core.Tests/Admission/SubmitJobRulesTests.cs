using LoRAQueue.Contracts;
using LoRAQueue.Contracts.Admission;

namespace LoRAQueue.Core.Tests.Admission;

public sealed class SubmitJobRulesTests
{
    private static readonly AdmissionLimits Limits = new(contextLength: 512, configuredMaxTokens: 4096, maxSequenceTokens: 256);

    private static SubmitJob Valid() => new() { JobId = Guid.NewGuid(), Tenant = "acme", AdapterId = "r8", Prompt = "hello", MaxTokens = 4 };

    [Fact]
    public void A_valid_job_breaks_no_rule() => Assert.Null(SubmitJobRules.CheckFields(Valid(), Limits));

    [Fact]
    public void Max_tokens_is_capped_at_the_context_minus_one_and_reported_as_invalid_max_tokens()
    {
        Assert.Equal(511, Limits.MaxTokens);
        Assert.Null(SubmitJobRules.CheckFields(Valid() with { MaxTokens = 511 }, Limits));
        var r = SubmitJobRules.CheckFields(Valid() with { MaxTokens = 512 }, Limits)!;
        Assert.Equal(FailureReasons.InvalidMaxTokens, r.Code);
        Assert.Equal("max_tokens must be between 1 and 511 (got 512); the model's context is 512 tokens", r.Message(JobFieldNames.Http));
        Assert.StartsWith("maxTokens must be", r.Message(JobFieldNames.Amqp));
    }

    [Theory]
    [InlineData(-0.5f, 1f, 0, JobField.Temperature)]
    [InlineData(float.NaN, 1f, 0, JobField.Temperature)]
    [InlineData(0f, 0f, 0, JobField.TopP)]
    [InlineData(0f, 1.01f, 0, JobField.TopP)]
    [InlineData(0f, 1f, -1, JobField.TopK)]
    public void Sampling_values_out_of_range_name_their_field(float temperature, float topP, int topK, JobField field)
    {
        var r = SubmitJobRules.CheckFields(Valid() with { Sampling = new SamplingOptions { Temperature = temperature, TopP = topP, TopK = topK } }, Limits)!;
        Assert.Equal(FailureReasons.InvalidRequest, r.Code);
        Assert.Equal(field, r.Field);
    }

    [Fact]
    public void Field_names_follow_each_entrance()
    {
        var r = SubmitJobRules.CheckFields(Valid() with { Sampling = new SamplingOptions { TopP = 0 } }, Limits)!;
        Assert.StartsWith("top_p ", r.Message(JobFieldNames.Http));
        Assert.StartsWith("sampling.topP ", r.Message(JobFieldNames.Amqp));
    }

    [Fact]
    public void An_adapter_of_another_tenant_reads_like_an_unregistered_one()
    {
        var mine = SubmitJobRules.CheckAdapter(Valid(), ownerTenant: "acme");
        var foreign = SubmitJobRules.CheckAdapter(Valid(), ownerTenant: "other")!;
        var missing = SubmitJobRules.CheckAdapter(Valid(), ownerTenant: null)!;
        Assert.Null(mine);
        Assert.Equal(FailureReasons.UnknownAdapter, foreign.Code);
        Assert.Equal(missing, foreign);
        Assert.Null(SubmitJobRules.CheckAdapter(Valid() with { AdapterId = null }, ownerTenant: null)); // the base model
    }

    [Theory]
    [InlineData("../r8")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("")]
    public void Adapter_ids_that_could_leave_the_store_are_unknown(string id) =>
        Assert.Equal(FailureReasons.UnknownAdapter, SubmitJobRules.CheckAdapter(Valid() with { AdapterId = id }, "acme")!.Code);

    [Fact]
    public void Length_counts_the_context_and_the_kv_cache()
    {
        Assert.Null(SubmitJobRules.CheckLength(200, 57, Limits));         // 257 tokens: 256 KV slots, the last token needs none
        Assert.Equal(FailureReasons.PromptTooLong, SubmitJobRules.CheckLength(200, 58, Limits)!.Code);   // 257 KV slots > 256
        Assert.Equal(FailureReasons.PromptTooLong, SubmitJobRules.CheckLength(512, 1, Limits)!.Code);    // the context
        var gateway = new AdmissionLimits(512, 4096); // no KV cache known: only the context counts
        Assert.Null(SubmitJobRules.CheckLength(400, 100, gateway));
    }

    [Theory]
    [InlineData("ftp://example.com/x")]
    [InlineData("https://user:pw@example.com/x")]
    [InlineData("/relative")]
    [InlineData("https://example.com/x#frag")]
    [InlineData("https://example.com/a\0b")]
    public void Webhook_urls_are_checked_for_shape(string url) =>
        Assert.Equal(FailureReasons.WebhookUrlRefused, SubmitJobRules.CheckFields(Valid() with { WebhookUrl = url }, Limits)!.Code);

    [Fact]
    public void Unsupported_schema_versions_are_invalid()
    {
        Assert.Equal(JobField.SchemaVersion, SubmitJobRules.CheckFields(Valid() with { SchemaVersion = 2 }, Limits)!.Field);
        Assert.Equal(JobField.SchemaVersion, SubmitJobRules.CheckFields(Valid() with { SchemaVersion = 0 }, Limits)!.Field);
    }

    [Fact]
    public void U0000_is_any_prompts_or_metadatas_own_business_but_not_an_ids()
    {
        Assert.Null(SubmitJobRules.CheckFields(Valid() with { Prompt = "a\0b", Metadata = new() { ["k\0"] = "v\0" } }, Limits));
        Assert.Equal(JobField.CustomId, SubmitJobRules.CheckFields(Valid() with { CustomId = "line\01" }, Limits)!.Field);
    }
}
