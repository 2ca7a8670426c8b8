using System.Text.Json;
using LoRAQueue.Formats;
using LoRAQueue.History;

namespace LoRAQueue.Cli.Tests;

/// <summary>`loraqueue db migrate` and `adapter register|list` against the real PostgreSQL; database failures in one line.</summary>
public sealed class DatabaseCommandTests
{
    [Fact]
    public async Task Migrate_applies_every_script_once_and_then_reports_the_database_up_to_date()
    {
        await using var database = await PostgresServer.CreateDatabaseAsync(migrate: false);

        var first = await CliRun.InvokeAsync("db", "migrate", "--connection", database.ConnectionString);
        var second = await CliRun.InvokeAsync("db", "migrate", "--connection", database.ConnectionString);

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.StartsWith($"applied {DatabaseMigrator.ScriptNames.Count} migrations: ", first.Output);
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal($"the database is up to date ({DatabaseMigrator.ScriptNames.Count} migrations)", second.Output.Trim());
    }

    [Fact]
    public async Task Adapters_are_registered_after_validation_and_listed_per_tenant()
    {
        await using var database = await PostgresServer.CreateDatabaseAsync();
        using var files = new TempDirectory();
        string model = Path.Combine(files.Path, "model"), store = Path.Combine(files.Path, "store");
        SyntheticModel.Create("tiny", model, seed: 1);
        SyntheticAdapter.Create(model, 24, null, Path.Combine(store, "support-bot"), seed: 2);
        SyntheticAdapter.Create(model, 8, null, Path.Combine(store, "summarizer"), seed: 3);
        string[] common = ["--store", store, "--model", model, "--connection", database.ConnectionString];

        var registered = await CliRun.InvokeAsync(["adapter", "register", "support-bot", "--tenant", "acme", .. common]);
        var second = await CliRun.InvokeAsync(["adapter", "register", "summarizer", "--tenant", "globex", "--json", .. common]);
        var missing = await CliRun.InvokeAsync(["adapter", "register", "nope", "--tenant", "acme", .. common]);
        var all = await CliRun.InvokeAsync("adapter", "list", "--json", "--connection", database.ConnectionString);
        var acme = await CliRun.InvokeAsync("adapter", "list", "--tenant", "acme", "--connection", database.ConnectionString);

        Assert.True(registered.ExitCode == 0, registered.ToString());
        Assert.StartsWith("registered support-bot for acme: max rank 24, bucket 32 (queue lora-rank-32)", registered.Output);
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Equal(8, JsonDocument.Parse(second.Output).RootElement.GetProperty("rank_bucket").GetInt32());
        Assert.Equal(1, missing.ExitCode);
        Assert.StartsWith("error: adapter 'nope' is not in the adapter store", missing.Error);
        Assert.True(all.ExitCode == 0, all.ToString());
        Assert.Equal(["summarizer", "support-bot"],
            JsonDocument.Parse(all.Output).RootElement.EnumerateArray().Select(a => a.GetProperty("id").GetString()));
        Assert.Contains("support-bot", acme.Output);
        Assert.DoesNotContain("summarizer", acme.Output);
        Assert.Contains("1 adapters", acme.Output);
    }

    [Fact]
    public async Task An_unmigrated_database_is_named_with_the_fix()
    {
        await using var database = await PostgresServer.CreateDatabaseAsync(migrate: false);

        var result = await CliRun.InvokeAsync("jobs", "list", "--connection", database.ConnectionString);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("has no LoRAQueue tables", result.Error);
        Assert.Contains("run `loraqueue db migrate` first", result.Error);
    }

    [Theory]
    [InlineData("jobs", "list")]
    [InlineData("db", "migrate")]
    [InlineData("adapter", "list")]
    public async Task An_unreachable_database_gets_one_line_and_exit_1(string command, string subcommand)
    {
        var result = await CliRun.InvokeAsync(command, subcommand, "--connection", "Host=127.0.0.1;Port=1;Database=none;Username=nobody;Password=secret;Timeout=3");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: cannot reach the database 127.0.0.1:1/none: ", result.Error);
        Assert.DoesNotContain("secret", result.Error);
        Assert.Single(result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task A_malformed_connection_string_is_refused()
    {
        var result = await CliRun.InvokeAsync("jobs", "list", "--connection", "Hots=127.0.0.1");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: the connection string is not valid: ", result.Error);
    }
}
