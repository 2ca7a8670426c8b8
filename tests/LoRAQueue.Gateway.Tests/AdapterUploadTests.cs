using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using LoRAQueue.Formats;
using LoRAQueue.History.Tenants;

namespace LoRAQueue.Gateway.Tests;

/// <summary>A gateway of its own with a 1 MiB upload limit, so a test can go over it with a small body.</summary>
public sealed class AdapterUploadFixture : IAsyncLifetime
{
    private GatewayServer? _server;

    public GatewayServer Server => _server ?? throw new InvalidOperationException("fixture not initialised");

    public async Task InitializeAsync() =>
        _server = await GatewayServer.StartAsync(new Dictionary<string, string?> { ["LoRAQueue:Gateway:MaxAdapterUploadMb"] = "1" });

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }
}

/// <summary>POST /v1/adapters as multipart/form-data: the files stream into the store, are registered (digest and all) and
/// only then take the id's place; anything refused or rejected leaves the store as it was.</summary>
public sealed class AdapterUploadTests(AdapterUploadFixture fixture) : IClassFixture<AdapterUploadFixture>
{
    private GatewayServer Server => fixture.Server;

    [Fact]
    public async Task A_valid_adapter_is_stored_registered_with_its_digest_and_usable_by_jobs()
    {
        // A tenant body limit far below the adapter's size: uploads have their own limit.
        var tenant = await Server.CreateTenantAsync(new TenantLimits(MaxBodyBytes: 1024));
        string source = WriteAdapter(rank: 8, seed: 1);
        File.WriteAllText(Path.Combine(source, "README.md"), "# support-r8\n");
        string id = NewId();

        var view = await (await tenant.Http.PostAsync("/v1/adapters", Form(id, FilesOf(source), curl: true))).AssertStatus(HttpStatusCode.Created);

        string stored = Path.Combine(Server.AdapterStorePath, id);
        var manifest = AdapterManifest.Compute(stored);
        Assert.Equal(manifest.Digest, view.GetProperty("digest").GetString());
        Assert.Equal(AdapterManifest.Compute(source).Digest, manifest.Digest);
        Assert.Equal(["README.md", "adapter_config.json", "adapter_model.safetensors"], manifest.Files.Select(f => f.Path));
        Assert.Equal((id, "lora-rank-8"), (view.GetProperty("id").GetString(), view.GetProperty("queue").GetString()));
        var shown = await (await tenant.Http.GetAsync($"/v1/adapters/{id}")).AssertStatus(HttpStatusCode.OK);
        Assert.Equal(manifest.Digest, shown.GetProperty("digest").GetString());
        AssertNoStagingLeft();

        Guid job = await tenant.Http.SubmitJob(new { prompt = "p", max_tokens = 1, adapter = id });
        await Eventually.WaitAsync(() => Task.FromResult(Server.QueuedFor(tenant.Id)), q => q.Any(j => j.JobId == job), "the job on its rank queue");
    }

    [Fact]
    public async Task A_re_upload_replaces_the_tenants_adapter_and_its_digest()
    {
        var tenant = await Server.CreateTenantAsync();
        string id = NewId();
        string first = WriteAdapter(rank: 8, seed: 1);
        File.WriteAllText(Path.Combine(first, "README.md"), "v1\n");
        await (await tenant.Http.PostAsync("/v1/adapters", Form(id, FilesOf(first)))).AssertStatus(HttpStatusCode.Created);

        string second = WriteAdapter(rank: 16, seed: 2);
        var view = await (await tenant.Http.PostAsync("/v1/adapters", Form(id, FilesOf(second)))).AssertStatus(HttpStatusCode.Created);

        string stored = Path.Combine(Server.AdapterStorePath, id);
        Assert.Equal(AdapterManifest.Compute(second).Digest, view.GetProperty("digest").GetString());
        Assert.Equal(AdapterManifest.Compute(stored).Digest, view.GetProperty("digest").GetString());
        Assert.False(File.Exists(Path.Combine(stored, "README.md"))); // the old directory is gone, not merged
        Assert.Equal(16, view.GetProperty("rank_bucket").GetInt32());
        AssertNoStagingLeft();
    }

    [Theory]
    [InlineData("adapter_model.safetensors")]
    [InlineData("adapter_config.json")]
    public async Task A_missing_required_file_is_400_naming_it_and_nothing_is_stored(string missing)
    {
        var tenant = await Server.CreateTenantAsync();
        string id = NewId();
        var files = FilesOf(WriteAdapter(rank: 8, seed: 1)).Where(f => f.Name != missing).ToArray();

        string detail = await (await tenant.Http.PostAsync("/v1/adapters", Form(id, files))).AssertProblem(HttpStatusCode.BadRequest, "invalid_request");

        Assert.Contains($"no {missing}", detail);
        await AssertNotStoredAsync(tenant, id);
    }

    [Theory]
    [InlineData("../{0}")]
    [InlineData("../../{0}")]
    [InlineData("/tmp/{0}")]
    [InlineData("sub/{0}")]
    [InlineData("..\\{0}")]
    [InlineData("..")]
    public async Task A_file_name_that_is_not_a_plain_name_is_400_and_nothing_is_written_anywhere(string pattern)
    {
        var tenant = await Server.CreateTenantAsync();
        string id = NewId();
        string escaped = $"escaped-{Guid.NewGuid():N}.txt";
        string name = string.Format(System.Globalization.CultureInfo.InvariantCulture, pattern, escaped);
        var files = FilesOf(WriteAdapter(rank: 8, seed: 1)).Append((name, Encoding.UTF8.GetBytes("not here"))).ToArray();

        foreach (bool curl in new[] { false, true })
        {
            string detail = await (await tenant.Http.PostAsync("/v1/adapters", Form(id, files, curl))).AssertProblem(HttpStatusCode.BadRequest, "invalid_request");
            Assert.Contains("not a plain file name", detail);
            await AssertNotStoredAsync(tenant, id);
        }
        foreach (string directory in new[] { Server.AdapterStorePath, Server.Root, Path.GetDirectoryName(Server.Root)!, "/tmp" })
            Assert.False(File.Exists(Path.Combine(directory, escaped)), $"{escaped} was written to {directory}");
    }

    [Fact]
    public async Task A_file_sent_twice_is_400()
    {
        var tenant = await Server.CreateTenantAsync();
        string id = NewId();
        var files = FilesOf(WriteAdapter(rank: 8, seed: 1));

        string detail = await (await tenant.Http.PostAsync("/v1/adapters", Form(id, [.. files, files[0]]))).AssertProblem(HttpStatusCode.BadRequest, "invalid_request");

        Assert.Equal($"file '{files[0].Name}' is sent twice", detail);
        await AssertNotStoredAsync(tenant, id);
    }

    [Fact]
    public async Task An_upload_over_the_limit_is_413_whether_declared_or_chunked_and_nothing_is_stored()
    {
        var tenant = await Server.CreateTenantAsync();
        string id = NewId();
        var files = FilesOf(WriteAdapter(rank: 8, seed: 1)).Append(("README.md", new byte[1536 * 1024])).ToArray();

        var declared = await tenant.Http.PostAsync("/v1/adapters", Form(id, files));
        Assert.Contains("LoRAQueue:Gateway:MaxAdapterUploadMb", await declared.AssertProblem(HttpStatusCode.RequestEntityTooLarge, "body_too_large"));
        await AssertNotStoredAsync(tenant, id);

        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/adapters") { Content = Form(id, files) };
        request.Headers.TransferEncodingChunked = true;
        await (await tenant.Http.SendAsync(request)).AssertProblem(HttpStatusCode.RequestEntityTooLarge, "body_too_large");
        await AssertNotStoredAsync(tenant, id);
    }

    [Fact]
    public async Task An_adapter_the_registry_rejects_is_422_and_the_previous_upload_stays_registered_and_intact()
    {
        var tenant = await Server.CreateTenantAsync();
        string id = NewId();
        string good = WriteAdapter(rank: 8, seed: 1);
        var first = await (await tenant.Http.PostAsync("/v1/adapters", Form(id, FilesOf(good)))).AssertStatus(HttpStatusCode.Created);
        string digest = first.GetProperty("digest").GetString()!;

        string bad = WriteAdapter(rank: 16, seed: 2);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(bad, "adapter_config.json")))!;
        config["target_modules"] = new JsonArray("bogus_proj");
        File.WriteAllText(Path.Combine(bad, "adapter_config.json"), config.ToJsonString());
        string detail = await (await tenant.Http.PostAsync("/v1/adapters", Form(id, FilesOf(bad)))).AssertProblem((HttpStatusCode)422, "adapter_invalid");

        Assert.Contains("unknown target module 'bogus_proj'", detail);
        Assert.Equal(digest, AdapterManifest.Compute(Path.Combine(Server.AdapterStorePath, id)).Digest);
        var shown = await (await tenant.Http.GetAsync($"/v1/adapters/{id}")).AssertStatus(HttpStatusCode.OK);
        Assert.Equal((digest, 8), (shown.GetProperty("digest").GetString(), shown.GetProperty("rank_bucket").GetInt32()));
        AssertNoStagingLeft();

        // A first upload the registry rejects leaves no directory at all.
        string fresh = NewId();
        await (await tenant.Http.PostAsync("/v1/adapters", Form(fresh, FilesOf(bad)))).AssertProblem((HttpStatusCode)422, "adapter_invalid");
        await AssertNotStoredAsync(tenant, fresh);
    }

    [Fact]
    public async Task Another_tenants_id_is_409_and_their_adapter_is_untouched()
    {
        var owner = await Server.CreateTenantAsync();
        var other = await Server.CreateTenantAsync();
        string id = NewId();
        var uploaded = await (await owner.Http.PostAsync("/v1/adapters", Form(id, FilesOf(WriteAdapter(rank: 8, seed: 1))))).AssertStatus(HttpStatusCode.Created);

        string detail = await (await other.Http.PostAsync("/v1/adapters", Form(id, FilesOf(WriteAdapter(rank: 16, seed: 2)))))
            .AssertProblem(HttpStatusCode.Conflict, "conflict");

        Assert.DoesNotContain(owner.Id, detail);
        Assert.Equal(uploaded.GetProperty("digest").GetString(), AdapterManifest.Compute(Path.Combine(Server.AdapterStorePath, id)).Digest);
        await (await other.Http.GetAsync($"/v1/adapters/{id}")).AssertProblem(HttpStatusCode.NotFound, "not_found");
        AssertNoStagingLeft();
    }

    [Theory]
    [InlineData(null, "id is required")]
    [InlineData("../escape", "is not a valid adapter id")]
    [InlineData(".hidden", "is not a valid adapter id")]
    public async Task A_missing_or_malformed_id_is_400(string? id, string message)
    {
        var tenant = await Server.CreateTenantAsync();

        string detail = await (await tenant.Http.PostAsync("/v1/adapters", Form(id, FilesOf(WriteAdapter(rank: 8, seed: 1)))))
            .AssertProblem(HttpStatusCode.BadRequest, "invalid_request");

        Assert.Contains(message, detail);
        Assert.False(Directory.Exists(Path.Combine(Server.AdapterStorePath, "..", "escape")));
        AssertNoStagingLeft();
    }

    [Fact]
    public async Task The_json_registration_still_works_beside_uploads()
    {
        var tenant = await Server.CreateTenantAsync();
        string id = await tenant.Http.RegisterAdapter(Server.CreateAdapter(8));
        var shown = await (await tenant.Http.GetAsync($"/v1/adapters/{id}")).AssertStatus(HttpStatusCode.OK);
        Assert.Equal(AdapterManifest.Compute(Path.Combine(Server.AdapterStorePath, id)).Digest, shown.GetProperty("digest").GetString());
    }

    private static string NewId() => $"up-{Guid.NewGuid().ToString("N")[..10]}";

    /// <summary>A synthetic adapter outside the store, as a client would have it.</summary>
    private string WriteAdapter(int rank, ulong seed)
    {
        string directory = Path.Combine(Server.Root, "client", Guid.NewGuid().ToString("N"));
        SyntheticAdapter.Create(Server.ModelPath, rank, null, directory, seed);
        return directory;
    }

    private static (string Name, byte[] Bytes)[] FilesOf(string directory) =>
        [.. Directory.GetFiles(directory).Order(StringComparer.Ordinal).Select(f => (Path.GetFileName(f), File.ReadAllBytes(f)))];

    /// <summary>The id field first, then one part per file under the field name "files". HttpClient sends each name as
    /// filename and filename* (RFC 5987); <paramref name="curl"/> sends only a quoted filename, as curl -F does.</summary>
    private static MultipartFormDataContent Form(string? id, IEnumerable<(string Name, byte[] Bytes)> files, bool curl = false)
    {
        var form = new MultipartFormDataContent();
        if (id is not null) form.Add(new StringContent(id), "id");
        foreach (var (name, bytes) in files)
        {
            var part = new ByteArrayContent(bytes);
            part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            if (!curl)
            {
                form.Add(part, "files", name);
                continue;
            }
            part.Headers.ContentDisposition = new ContentDispositionHeaderValue("form-data") { Name = "\"files\"", FileName = $"\"{name}\"" };
            form.Add(part);
        }
        return form;
    }

    private void AssertNoStagingLeft() =>
        Assert.DoesNotContain(Directory.GetDirectories(Server.AdapterStorePath), d => Path.GetFileName(d).StartsWith('.'));

    private async Task AssertNotStoredAsync(TenantClient tenant, string id)
    {
        Assert.False(Directory.Exists(Path.Combine(Server.AdapterStorePath, id)), $"{id} is in the store");
        AssertNoStagingLeft();
        await (await tenant.Http.GetAsync($"/v1/adapters/{id}")).AssertProblem(HttpStatusCode.NotFound, "not_found");
    }
}
