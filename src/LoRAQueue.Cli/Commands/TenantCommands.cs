using System.CommandLine;
using LoRAQueue.History.Tenants;
using Spectre.Console;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue tenant …`: tenants, their API keys, webhook secrets and limits (TenantStore on Postgres).</summary>
internal static class TenantCommands
{
    public static Command Create()
    {
        var command = new Command("tenant", "Manage tenants: API keys, webhook signing secrets, limits");
        command.Subcommands.Add(CreateTenant());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Limits());
        command.Subcommands.Add(Keys());
        command.Subcommands.Add(RotateSecret());
        return command;
    }

    private static Command CreateTenant()
    {
        var connection = DatabaseAccess.ConnectionOption();
        var id = new Argument<string>("id") { Description = "Tenant id: 1-64 of a-z 0-9 . _ -" };
        var name = new Option<string?>("--name") { Description = "Display name (default: the id)" };
        var (bodyBytes, batchLines, perMinute) = LimitOptions();
        var json = new Option<bool>("--json") { Description = "Print the key and secret as JSON" };
        var command = new Command("create", "Create a tenant; prints its first API key and webhook secret (shown only now)")
        {
            id, name, bodyBytes, batchLines, perMinute, json, connection,
        };
        command.SetAction((parse, ct) => RunAsync(parse, connection, async (store, output, token) =>
        {
            var tenantId = parse.GetValue(id)!;
            var created = await store.CreateAsync(tenantId, parse.GetValue(name) ?? tenantId,
                new TenantLimits(parse.GetValue(bodyBytes), parse.GetValue(batchLines), parse.GetValue(perMinute)), token);
            if (parse.GetValue(json))
                CliOutput.WriteJson(output, new { tenant = created.Tenant.Id, api_key = created.ApiKey, webhook_secret = created.WebhookSecret });
            else
            {
                output.WriteLine($"tenant {created.Tenant.Id} created");
                output.WriteLine($"api key:        {created.ApiKey}");
                output.WriteLine($"webhook secret: {created.WebhookSecret}");
                output.WriteLine("(both are shown only now: keep them)");
            }
            return 0;
        }, ct));
        return command;
    }

    private static Command List()
    {
        var connection = DatabaseAccess.ConnectionOption();
        var command = new Command("list", "List tenants and their limits") { connection };
        command.SetAction((parse, ct) => RunAsync(parse, connection, async (store, output, token) =>
        {
            var table = new Table().AddColumns("tenant", "name", "max body bytes", "max batch lines", "requests/min", "rotating secret", "created");
            foreach (var t in await store.ListAsync(token))
                table.AddRow(Markup.Escape(t.Id), Markup.Escape(t.Name), $"{t.MaxBodyBytes:N0}", $"{t.MaxBatchLines:N0}", $"{t.RequestsPerMinute:N0}",
                             t.WebhookSecretPrevious is null ? "no" : "yes", $"{t.CreatedAt:u}");
            CliOutput.ConsoleFor(output).Write(table);
            return 0;
        }, ct));
        return command;
    }

    private static Command Limits()
    {
        var connection = DatabaseAccess.ConnectionOption();
        var id = new Argument<string>("id");
        var (bodyBytes, batchLines, perMinute) = LimitOptions();
        var command = new Command("limits", "Change a tenant's limits (those given; the others stay)") { id, bodyBytes, batchLines, perMinute, connection };
        command.SetAction((parse, ct) => RunAsync(parse, connection, async (store, output, token) =>
        {
            var t = await store.SetLimitsAsync(parse.GetValue(id)!,
                new TenantLimits(parse.GetValue(bodyBytes), parse.GetValue(batchLines), parse.GetValue(perMinute)), token);
            output.WriteLine($"tenant {t.Id}: max body {t.MaxBodyBytes:N0} bytes, max batch {t.MaxBatchLines:N0} lines, {t.RequestsPerMinute:N0} requests/min");
            return 0;
        }, ct));
        return command;
    }

    private static Command Keys()
    {
        var command = new Command("key", "API keys of a tenant");
        var connection = DatabaseAccess.ConnectionOption();
        var id = new Argument<string>("tenant");
        var create = new Command("create", "Add an API key (shown only now)") { id, connection };
        create.SetAction((parse, ct) => RunAsync(parse, connection, async (store, output, token) =>
        {
            output.WriteLine(await store.CreateKeyAsync(parse.GetValue(id)!, token));
            return 0;
        }, ct));

        var listConnection = DatabaseAccess.ConnectionOption();
        var listId = new Argument<string>("tenant");
        var list = new Command("list", "List a tenant's keys by prefix") { listId, listConnection };
        list.SetAction((parse, ct) => RunAsync(parse, listConnection, async (store, output, token) =>
        {
            var table = new Table().AddColumns("prefix", "created", "revoked");
            foreach (var k in await store.ListKeysAsync(parse.GetValue(listId)!, token))
                table.AddRow(Markup.Escape(k.Prefix), $"{k.CreatedAt:u}", k.RevokedAt is { } r ? $"{r:u}" : "");
            CliOutput.ConsoleFor(output).Write(table);
            return 0;
        }, ct));

        var revokeConnection = DatabaseAccess.ConnectionOption();
        var revokeId = new Argument<string>("tenant");
        var key = new Argument<string>("key") { Description = "The whole key or its prefix (as `tenant key list` shows it)" };
        var revoke = new Command("revoke", "Revoke a key: it stops working at once") { revokeId, key, revokeConnection };
        revoke.SetAction((parse, ct) => RunAsync(parse, revokeConnection, async (store, output, token) =>
        {
            int revoked = await store.RevokeKeyAsync(parse.GetValue(revokeId)!, parse.GetValue(key)!, token);
            if (revoked == 0) throw new CliException($"no active key of tenant '{parse.GetValue(revokeId)}' matches '{parse.GetValue(key)}'");
            output.WriteLine($"revoked {revoked} key(s)");
            return 0;
        }, ct));
        command.Subcommands.Add(create);
        command.Subcommands.Add(list);
        command.Subcommands.Add(revoke);
        return command;
    }

    private static Command RotateSecret()
    {
        var connection = DatabaseAccess.ConnectionOption();
        var id = new Argument<string>("tenant");
        var finish = new Option<bool>("--finish") { Description = "End a rotation: drop the previous secret (deliveries are signed with the new one only)" };
        var command = new Command("rotate-secret", "Start a webhook secret rotation: a new secret signs beside the old one until --finish")
        {
            id, finish, connection,
        };
        command.SetAction((parse, ct) => RunAsync(parse, connection, async (store, output, token) =>
        {
            var tenant = parse.GetValue(id)!;
            if (parse.GetValue(finish))
            {
                await store.ClearPreviousSecretAsync(tenant, token);
                output.WriteLine($"tenant {tenant}: previous webhook secret dropped");
            }
            else
            {
                output.WriteLine(await store.RotateSecretAsync(tenant, token));
                output.WriteLine("(deliveries carry a signature with each secret until `rotate-secret --finish`)");
            }
            return 0;
        }, ct));
        return command;
    }

    private static (Option<int?> BodyBytes, Option<int?> BatchLines, Option<int?> PerMinute) LimitOptions() => (
        new Option<int?>("--max-body-bytes") { Description = "Largest request body (default 4 MiB)" },
        new Option<int?>("--max-batch-lines") { Description = "Most lines in one batch (default 10,000)" },
        new Option<int?>("--requests-per-minute") { Description = "Rate limit (default 600)" });

    private static Task<int> RunAsync(ParseResult parse, Option<string?> connection,
                                      Func<TenantStore, TextWriter, CancellationToken, Task<int>> body, CancellationToken ct) =>
        DatabaseAccess.RunAsync(parse, connection, async (dataSource, _, token) =>
        {
            try
            {
                return await body(new TenantStore(dataSource), parse.InvocationConfiguration.Output, token);
            }
            catch (TenantException e)
            {
                throw new CliException(e.Message);
            }
        }, ct);
}
