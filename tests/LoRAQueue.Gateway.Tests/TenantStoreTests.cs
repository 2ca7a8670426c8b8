using System.Security.Cryptography;
using System.Text;
using Dapper;
using LoRAQueue.History.Tenants;

namespace LoRAQueue.Gateway.Tests;

/// <summary>The tenant store the CLI administers tenants with.</summary>
public sealed class TenantStoreTests(PostgresDatabaseFixture fixture) : IClassFixture<PostgresDatabaseFixture>
{
    private TenantStore Store => new(fixture.Database.DataSource);

    private static string NewId() => "t-" + Guid.NewGuid().ToString("N")[..10];

    [Fact]
    public async Task Creating_a_tenant_returns_a_key_and_secret_once_and_stores_only_the_keys_hash()
    {
        string id = NewId();
        var created = await Store.CreateAsync(id, "Acme", new TenantLimits(RequestsPerMinute: 30));
        Assert.StartsWith("lq_", created.ApiKey);
        Assert.True(created.ApiKey.Length > 40);
        Assert.StartsWith("whsec_", created.WebhookSecret);
        Assert.Equal(32, Convert.FromBase64String(created.WebhookSecret["whsec_".Length..]).Length);
        Assert.Equal((id, "Acme", 30, 4194304, 10000), (created.Tenant.Id, created.Tenant.Name, created.Tenant.RequestsPerMinute,
                                                        created.Tenant.MaxBodyBytes, created.Tenant.MaxBatchLines));

        await using var connection = await fixture.Database.DataSource.OpenConnectionAsync();
        var stored = await connection.QuerySingleAsync<(byte[] Hash, string Prefix)>(
            "SELECT key_hash, key_prefix FROM api_keys WHERE tenant = @Id", new { Id = id });
        Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes(created.ApiKey)), stored.Hash);
        Assert.Equal(created.ApiKey[..11], stored.Prefix);
        Assert.Equal(0, await connection.ExecuteScalarAsync<int>(
            "SELECT count(*) FROM api_keys WHERE position(@Key in encode(key_hash, 'escape')) > 0", new { Key = created.ApiKey }));

        Assert.Equal(id, (await Store.FindByKeyAsync(created.ApiKey))?.Id);
        Assert.Null(await Store.FindByKeyAsync(created.ApiKey + "x"));
        Assert.Null(await Store.FindByKeyAsync(""));
    }

    [Fact]
    public async Task Keys_can_be_added_listed_and_revoked_by_prefix_or_whole()
    {
        string id = NewId();
        var created = await Store.CreateAsync(id, "Globex");
        string second = await Store.CreateKeyAsync(id);
        Assert.Equal(2, (await Store.ListKeysAsync(id)).Count(k => !k.IsRevoked));

        Assert.Equal(0, await Store.RevokeKeyAsync("someone-else", ApiKeys.PrefixOf(second)));
        Assert.Equal(1, await Store.RevokeKeyAsync(id, ApiKeys.PrefixOf(second)));
        Assert.Null(await Store.FindByKeyAsync(second));
        Assert.Equal(1, await Store.RevokeKeyAsync(id, created.ApiKey));
        Assert.Null(await Store.FindByKeyAsync(created.ApiKey));
        Assert.All(await Store.ListKeysAsync(id), k => Assert.True(k.IsRevoked));
        Assert.Equal("'lq_' is too short: give the whole key or its 11-character prefix",
                     (await Assert.ThrowsAsync<TenantException>(() => Store.RevokeKeyAsync(id, "lq_"))).Message);
        Assert.Equal("there is no tenant 'nobody'", (await Assert.ThrowsAsync<TenantException>(() => Store.CreateKeyAsync("nobody"))).Message);
    }

    [Fact]
    public async Task Rotating_the_secret_keeps_the_previous_one_signing_until_cleared()
    {
        string id = NewId();
        var created = await Store.CreateAsync(id, "Initech");
        string next = await Store.RotateSecretAsync(id);
        var tenant = (await Store.GetAsync(id))!;
        Assert.Equal([next, created.WebhookSecret], tenant.WebhookSecrets);

        Assert.True(await Store.ClearPreviousSecretAsync(id));
        Assert.False(await Store.ClearPreviousSecretAsync(id));
        Assert.Equal([next], (await Store.GetAsync(id))!.WebhookSecrets);
        await Assert.ThrowsAsync<TenantException>(() => Store.RotateSecretAsync("nobody"));
    }

    [Fact]
    public async Task Limits_change_only_where_given_and_bad_input_is_refused_with_a_reason()
    {
        string id = NewId();
        await Store.CreateAsync(id, "Umbrella");
        var changed = await Store.SetLimitsAsync(id, new TenantLimits(MaxBodyBytes: 2048));
        Assert.Equal((2048, 10000, 600), (changed.MaxBodyBytes, changed.MaxBatchLines, changed.RequestsPerMinute));

        Assert.Equal($"tenant '{id}' already exists", (await Assert.ThrowsAsync<TenantException>(() => Store.CreateAsync(id, "again"))).Message);
        Assert.Contains("is not a valid tenant id", (await Assert.ThrowsAsync<TenantException>(() => Store.CreateAsync("Bad Id", "x"))).Message);
        Assert.Equal("requests_per_minute must be at least 1 (got 0)",
                     (await Assert.ThrowsAsync<TenantException>(() => Store.SetLimitsAsync(id, new TenantLimits(RequestsPerMinute: 0)))).Message);
        Assert.Equal((await Store.ListAsync()).Select(t => t.Id).Order(StringComparer.Ordinal), (await Store.ListAsync()).Select(t => t.Id));
    }
}
