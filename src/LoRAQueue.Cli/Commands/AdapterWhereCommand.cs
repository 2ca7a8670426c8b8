using System.CommandLine;
using LoRAQueue.History;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue adapter where ID`: the adapter's content digest (Postgres) and the live workers whose host cache holds
/// those bytes (Redis), as a peer pulling it would find them.</summary>
internal static class AdapterWhereCommand
{
    public static Command Create()
    {
        var id = new Argument<string>("id") { Description = "Adapter id" };
        var connection = DatabaseAccess.ConnectionOption();
        var redis = LoadStateAccess.RedisOption("the workers' host caches");
        var prefix = LoadStateAccess.PrefixOption();
        var command = new Command("where", "Show which workers hold an adapter's bytes (by content digest), for peers to pull")
        { id, connection, redis, prefix };
        command.SetAction((parse, ct) => DatabaseAccess.RunAsync(parse, connection, async (dataSource, _, token) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            string adapterId = parse.GetValue(id)!;
            var record = await new PostgresAdapterRegistry(dataSource).GetAsync(adapterId, token);
            if (record is null) return CliOutput.Fail(error, $"adapter '{adapterId}' is not registered");
            if (record.Digest is null) return CliOutput.Fail(error, $"adapter '{adapterId}' has no digest yet: register it again to record one");
            output.WriteLine($"{record.Id}: digest {record.Digest}, {record.SizeBytes:N0} bytes");

            return await LoadStateAccess.ReadAsync(parse.GetValue(redis), parse.GetValue(prefix), async state =>
                {
                    var holders = await state.GetHoldersAsync(record.Digest);
                    output.WriteLine(holders.Count == 0
                        ? "held by no live worker's host cache: a pull reads the adapter store"
                        : string.Join(Environment.NewLine, holders.Select(h => $"  {h.Worker}: {h.SizeBytes:N0} bytes since {h.At:u}")));
                    return 0;
                },
                notConfigured: () => CliOutput.Fail(error, "holders not shown: set LORAQUEUE__REDIS__CONFIGURATION (or --redis)"),
                unreachable: reason => CliOutput.Fail(error, $"Redis: {reason}"));
        }, ct));
        return command;
    }
}
