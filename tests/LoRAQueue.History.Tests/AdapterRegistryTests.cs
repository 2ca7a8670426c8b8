using LoRAQueue.Core;

namespace LoRAQueue.History.Tests;

/// <summary>How any IAdapterRegistry registers adapters: validated against the base model, measured, bucketed.</summary>
public abstract class AdapterRegistryTests(AdapterStore store)
{
    private static readonly CancellationToken Ct = CancellationToken.None;
    private readonly string _tenant = "tenant-" + Guid.NewGuid().ToString("N")[..8];

    protected AdapterStore Store => store;

    protected abstract IAdapterRegistry CreateRegistry(AdapterValidator validator);

    private IAdapterRegistry Registry(RankBuckets? buckets = null) => CreateRegistry(store.Validator(buckets));

    [Fact]
    public async Task Registering_a_valid_adapter_records_its_rank_bucket_size_and_modules()
    {
        var registry = Registry();
        string id = store.Add("rank8");

        var record = await registry.RegisterAsync(id, _tenant, Ct);

        Assert.Equal((id, _tenant, Path.Combine(store.StorePath, id)), (record.Id, record.Tenant, record.Path));
        Assert.Equal((8, 8), (record.MaxRank, record.RankBucket));
        Assert.Equal(store.BaseModel.NumHiddenLayers * 4, record.ModuleCount); // q, k, v, o in every layer
        var ranks = new Dictionary<string, int> { ["q_proj"] = 8, ["k_proj"] = 8, ["v_proj"] = 8, ["o_proj"] = 8 };
        Assert.Equal(store.TensorBytes(ranks), record.SizeBytes);
        Assert.Equal(TimeSpan.Zero, record.CreatedAt.Offset);
        Assert.Equal(record, await registry.GetAsync(id, Ct));
    }

    [Fact]
    public async Task Registration_records_the_content_digest_the_same_bytes_share_and_any_change_alters()
    {
        var registry = Registry();
        string first = store.Add("rank8"), twin = store.Add("rank8"), other = store.Add("rank16");

        var a = await registry.RegisterAsync(first, _tenant, Ct);
        var b = await registry.RegisterAsync(twin, _tenant, Ct);
        var c = await registry.RegisterAsync(other, _tenant, Ct);

        Assert.Matches("^[0-9a-f]{64}$", a.Digest);
        Assert.Equal(a.Digest, b.Digest); // content-addressed: the id is not part of it
        Assert.NotEqual(a.Digest, c.Digest);
        Assert.Equal(a.Digest, LoRAQueue.Formats.AdapterManifest.Compute(a.Path).Digest);
        Assert.Equal(a, await registry.GetAsync(first, Ct));

        // The store's copy changes after registration: verification names the file; registering again records the new bytes.
        var weights = Directory.GetFiles(a.Path, "*.safetensors").Single();
        await using (var file = new FileStream(weights, FileMode.Open)) file.SetLength(file.Length - 16);
        string? problem = LoRAQueue.Formats.AdapterManifest.Verify(a.Path, a.Digest!,
            LoRAQueue.Formats.AdapterManifest.Compute(Path.Combine(store.StorePath, twin)).Files);
        Assert.Contains($"{Path.GetFileName(weights)} is", problem);
        Assert.Contains("registered with", problem);
    }

    [Fact]
    public async Task Max_rank_is_the_largest_module_rank_and_sets_the_bucket()
    {
        var record = await Registry().RegisterAsync(store.Add("mixed"), _tenant, Ct); // q, down: 8; v: 24

        Assert.Equal((24, 32), (record.MaxRank, record.RankBucket));
        Assert.Equal(store.BaseModel.NumHiddenLayers * 3, record.ModuleCount);
        Assert.Equal(store.TensorBytes(new Dictionary<string, int> { ["q_proj"] = 8, ["v_proj"] = 24, ["down_proj"] = 8 }),
                     record.SizeBytes);
    }

    [Theory]
    [InlineData("rank12", "8,16,32", 16)]   // rounds up to a boundary
    [InlineData("rank12", "4,8", 16)]       // above the last boundary: next power of two
    [InlineData("rank16", "16,64", 16)]     // exactly on a boundary
    public async Task Bucket_follows_the_configured_boundaries(string template, string boundaries, int bucket)
    {
        var record = await Registry(RankBuckets.Parse(boundaries)).RegisterAsync(store.Add(template), _tenant, Ct);
        Assert.Equal(bucket, record.RankBucket);
    }

    [Fact]
    public async Task Re_registering_an_id_updates_it_and_keeps_when_it_was_created()
    {
        var registry = Registry();
        string id = store.Add("rank8");
        var first = await registry.RegisterAsync(id, _tenant, Ct);

        store.Replace(id, "rank16");
        var second = await registry.RegisterAsync(id, _tenant, Ct);

        Assert.Equal((16, 16), (second.MaxRank, second.RankBucket));
        Assert.Equal(first.CreatedAt, second.CreatedAt);
        Assert.Equal(second, await registry.GetAsync(id, Ct));
        Assert.Equal([id], (await registry.ListAsync(_tenant, Ct)).Select(a => a.Id));
    }

    [Fact]
    public async Task Another_tenant_cannot_take_over_an_id()
    {
        var registry = Registry();
        string id = store.Add("rank8");
        var original = await registry.RegisterAsync(id, _tenant, Ct);

        var error = await Assert.ThrowsAsync<AdapterRegistrationException>(() => registry.RegisterAsync(id, "intruder", Ct));

        Assert.Contains(_tenant, error.Message);
        Assert.Equal(original, await registry.GetAsync(id, Ct));
    }

    [Fact]
    public async Task List_returns_a_tenants_adapters_by_id()
    {
        var registry = Registry();
        string other = "other-" + Guid.NewGuid().ToString("N")[..8];
        string[] mine = [store.Add("rank8"), store.Add("rank16"), store.Add("mixed")];
        foreach (string id in mine) await registry.RegisterAsync(id, _tenant, Ct);
        string theirs = store.Add("rank12");
        await registry.RegisterAsync(theirs, other, Ct);

        Assert.Equal(mine.Order(StringComparer.Ordinal), (await registry.ListAsync(_tenant, Ct)).Select(a => a.Id));
        Assert.Equal([theirs], (await registry.ListAsync(other, Ct)).Select(a => a.Id));
        var all = (await registry.ListAsync(null, Ct)).Select(a => a.Id).ToList();
        Assert.Superset(mine.Append(theirs).ToHashSet(), all.ToHashSet());
        Assert.Equal(all.Order(StringComparer.Ordinal), all);
    }

    [Theory]
    [InlineData("corrupt", "safetensors")]
    [InlineData("missing-weights", "adapter_model.safetensors")]
    [InlineData("other-model", "another base model")]
    public async Task A_bad_adapter_is_refused_with_the_reason_and_nothing_is_recorded(string template, string reason)
    {
        var registry = Registry();
        string id = store.Add(template);

        var error = await Assert.ThrowsAsync<AdapterRegistrationException>(() => registry.RegisterAsync(id, _tenant, Ct));

        Assert.Contains(id, error.Message);
        Assert.Contains(reason, error.Message);
        Assert.Null(await registry.GetAsync(id, Ct));
        Assert.Empty(await registry.ListAsync(_tenant, Ct));
    }

    [Fact]
    public async Task An_adapter_missing_from_the_store_is_refused()
    {
        var registry = Registry();
        var error = await Assert.ThrowsAsync<AdapterRegistrationException>(() => registry.RegisterAsync("no-such-adapter", _tenant, Ct));
        Assert.Contains("not in the adapter store", error.Message);
        Assert.Null(await registry.GetAsync("no-such-adapter", Ct));
    }

    [Fact]
    public async Task A_broken_re_registration_keeps_the_previous_record()
    {
        var registry = Registry();
        string id = store.Add("rank8");
        var original = await registry.RegisterAsync(id, _tenant, Ct);

        store.Replace(id, "corrupt");
        await Assert.ThrowsAsync<AdapterRegistrationException>(() => registry.RegisterAsync(id, _tenant, Ct));

        Assert.Equal(original, await registry.GetAsync(id, Ct));
    }

    [Theory]
    [InlineData("../outside")]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData(".hidden")]
    [InlineData("")]
    [InlineData("name\n")]
    public async Task An_id_that_is_not_one_directory_name_is_refused(string id)
    {
        var error = await Assert.ThrowsAsync<AdapterRegistrationException>(() => Registry().RegisterAsync(id, _tenant, Ct));
        Assert.Contains("not a valid adapter id", error.Message);
    }

    [Fact]
    public async Task An_adapter_needs_a_tenant()
    {
        await Assert.ThrowsAsync<AdapterRegistrationException>(() => Registry().RegisterAsync(store.Add("rank8"), " ", Ct));
    }
}

public sealed class InMemoryAdapterRegistryTests(AdapterStore store) : AdapterRegistryTests(store), IClassFixture<AdapterStore>
{
    protected override IAdapterRegistry CreateRegistry(AdapterValidator validator) => new InMemoryAdapterRegistry(validator);
}

public sealed class PostgresAdapterRegistryTests(AdapterStore store, PostgresDatabaseFixture db)
    : AdapterRegistryTests(store), IClassFixture<AdapterStore>, IClassFixture<PostgresDatabaseFixture>
{
    protected override IAdapterRegistry CreateRegistry(AdapterValidator validator) =>
        new PostgresAdapterRegistry(db.Database.DataSource, validator);
}
