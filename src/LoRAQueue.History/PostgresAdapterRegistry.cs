using Dapper;
using Npgsql;

namespace LoRAQueue.History;

/// <summary>The adapter registry in Postgres (table <c>adapters</c>, see migrations/). Without a validator (base model
/// and adapter store) it can only read: listing adapters needs neither.</summary>
public sealed class PostgresAdapterRegistry(NpgsqlDataSource dataSource, AdapterValidator? validator = null) : IAdapterRegistry
{
    private const string Columns = """
        id AS Id, tenant AS Tenant, path AS Path, max_rank AS MaxRank, rank_bucket AS RankBucket,
        size_bytes AS SizeBytes, module_count AS ModuleCount, created_at AS CreatedAt, digest AS Digest
        """;

    // Re-registration updates the row but keeps created_at; the WHERE refuses to take over another tenant's id
    // (then nothing is returned).
    private const string Upsert = $"""
        INSERT INTO adapters (id, tenant, path, base_model, max_rank, rank_bucket, size_bytes, module_count, digest, files)
        VALUES (@Id, @Tenant, @Path, @BaseModel, @MaxRank, @RankBucket, @SizeBytes, @ModuleCount, @Digest, CAST(@Files AS json))
        ON CONFLICT (id) DO UPDATE SET
            path = EXCLUDED.path, base_model = EXCLUDED.base_model, max_rank = EXCLUDED.max_rank,
            rank_bucket = EXCLUDED.rank_bucket, size_bytes = EXCLUDED.size_bytes,
            module_count = EXCLUDED.module_count, digest = EXCLUDED.digest, files = EXCLUDED.files, updated_at = now()
        WHERE adapters.tenant = EXCLUDED.tenant
        RETURNING {Columns}
        """;

    public async Task<AdapterRecord> RegisterAsync(string id, string tenant, CancellationToken ct)
    {
        if (validator is null)
            throw new InvalidOperationException("this adapter registry was opened without a validator (base model and adapter store), so it can only read");
        AdapterValidator.CheckTenant(tenant);
        var adapter = await Task.Run(() => validator.Validate(id), ct);
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<AdapterRow>(new CommandDefinition(Upsert, new
        {
            adapter.Id, Tenant = tenant, adapter.Path, adapter.BaseModel, adapter.MaxRank, adapter.RankBucket,
            adapter.SizeBytes, adapter.ModuleCount, adapter.Manifest.Digest,
            Files = System.Text.Json.JsonSerializer.Serialize(adapter.Manifest.Files, FileJson),
        }, cancellationToken: ct));
        if (row is not null) return row.ToRecord();
        var owner = await GetAsync(id, ct);
        throw AdapterRegistrationErrors.OtherTenant(id, owner?.Tenant ?? "(unknown)");
    }

    private static readonly System.Text.Json.JsonSerializerOptions FileJson = new() { PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower };

    public async Task<AdapterRecord?> GetAsync(string id, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var row = await connection.QuerySingleOrDefaultAsync<AdapterRow>(
            new CommandDefinition($"SELECT {Columns} FROM adapters WHERE id = @Id", new { Id = id }, cancellationToken: ct));
        return row?.ToRecord();
    }

    public async Task<IReadOnlyList<LoRAQueue.Formats.AdapterFile>?> GetFilesAsync(string id, CancellationToken ct)
    {
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var json = await connection.QuerySingleOrDefaultAsync<string?>(
            new CommandDefinition("SELECT files::text FROM adapters WHERE id = @Id", new { Id = id }, cancellationToken: ct));
        return json is null ? null : System.Text.Json.JsonSerializer.Deserialize<List<LoRAQueue.Formats.AdapterFile>>(json, FileJson);
    }

    public async Task<IReadOnlyList<AdapterRecord>> ListAsync(string? tenant, CancellationToken ct)
    {
        string sql = tenant is null
            ? $"SELECT {Columns} FROM adapters ORDER BY id COLLATE \"C\""
            : $"SELECT {Columns} FROM adapters WHERE tenant = @Tenant ORDER BY id COLLATE \"C\"";
        await using var connection = await dataSource.OpenConnectionAsync(ct);
        var rows = await connection.QueryAsync<AdapterRow>(new CommandDefinition(sql, new { Tenant = tenant }, cancellationToken: ct));
        return rows.Select(r => r.ToRecord()).ToList();
    }

    private sealed class AdapterRow
    {
        public string Id { get; set; } = "";
        public string Tenant { get; set; } = "";
        public string Path { get; set; } = "";
        public int MaxRank { get; set; }
        public int RankBucket { get; set; }
        public long SizeBytes { get; set; }
        public int ModuleCount { get; set; }
        public DateTime CreatedAt { get; set; }
        public string? Digest { get; set; }

        public AdapterRecord ToRecord() =>
            new(Id, Tenant, Path, MaxRank, RankBucket, SizeBytes, ModuleCount, Timestamps.FromUtc(CreatedAt), Digest);
    }
}
