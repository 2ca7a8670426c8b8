using System.CommandLine;
using LoRAQueue.Core.Placement;
using LoRAQueue.Scheduler;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue placement plan`: a placement computed from a JSON load snapshot, to examine and compare policies.</summary>
internal static class PlacementCommands
{
    public static Command Create()
    {
        var command = new Command("placement", "Compute placements from load snapshots");
        command.Subcommands.Add(PlanCommand());
        command.Subcommands.Add(ShowCommand());
        return command;
    }

    private static Command ShowCommand()
    {
        var connection = DatabaseAccess.ConnectionOption();
        var redis = LoadStateAccess.RedisOption("the workers' heartbeats");
        var prefix = LoadStateAccess.PrefixOption();
        var command = new Command("show",
            "Print the live placement: the scheduler's latest recorded plan, and which workers have applied it (their heartbeats in Redis)")
        { connection, redis, prefix };
        command.SetAction((parse, ct) => DatabaseAccess.RunAsync(parse, connection, async (dataSource, _, token) =>
        {
            var latest = await new PlacementHistory(dataSource).GetLatestAsync(token);
            if (latest is null)
            {
                parse.InvocationConfiguration.Error.WriteLine("no placement recorded yet: is a scheduler running?");
                return 1;
            }
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine($"epoch {latest.Epoch}, policy {latest.Policy}, {latest.Reason}, at {latest.CreatedAt:u}");
            output.WriteLine(await WorkerEpochsAsync(latest.Epoch, parse.GetValue(redis), parse.GetValue(prefix)));
            output.WriteLine(PlacementJson.Write(latest.Plan));
            return 0;
        }, ct));
        return command;
    }

    /// <summary>"workers: w1 on epoch 7, w2 on epoch 6 (behind)", from the live heartbeats; what is missing says why.</summary>
    private static Task<string> WorkerEpochsAsync(long latest, string? redisOption, string? prefixOption) =>
        LoadStateAccess.ReadAsync(redisOption, prefixOption, async state =>
            {
                var workers = await state.GetLiveWorkersAsync();
                if (workers.Count == 0) return "workers: none live";
                var behind = PlacementLag.Behind(latest, workers.Select(w => (w.Worker, (long?)w.Epoch))).ToHashSet(StringComparer.Ordinal);
                var lines = workers.OrderBy(w => w.Worker, StringComparer.Ordinal)
                    .Select(w => $"{w.Worker} on epoch {w.Epoch}{(behind.Contains(w.Worker) ? " (behind)" : "")}");
                return $"workers: {string.Join(", ", lines)}; {behind.Count} behind";
            },
            notConfigured: () => "workers: not shown (set LORAQUEUE__REDIS__CONFIGURATION to read their heartbeats)",
            unreachable: reason => $"workers: Redis unreachable ({reason})");

    private static Command PlanCommand()
    {
        var policy = new Option<string>("--policy") { Description = $"One of: {string.Join(", ", PlacementPolicies.Names)}", DefaultValueFactory = _ => "loraserve" };
        policy.AcceptOnlyFromAmong([.. PlacementPolicies.Names]);
        var state = new Option<FileInfo>("--state") { Description = "Load snapshot JSON ({\"workers\": […], \"adapters\": […]})", Required = true };
        var previous = new Option<FileInfo?>("--previous") { Description = "An earlier plan's JSON output, for sticky placement and moves" };
        var forecast = new Option<bool>("--forecast") { Description = "Replace demand_tps by the forecast from each adapter's demand_windows" };
        var json = new Option<bool>("--json") { Description = "Print the plan as JSON (the default output)" };

        var command = new Command("plan", "Compute a placement from a snapshot and print it") { policy, state, previous, forecast, json };
        command.SetAction(parse =>
        {
            try
            {
                var snapshot = PlacementJson.ReadSnapshot(File.ReadAllText(parse.GetValue(state)!.FullName));
                if (parse.GetValue(forecast)) snapshot = new DemandForecaster().ApplyTo(snapshot);
                var earlier = parse.GetValue(previous) is { } file ? PlacementJson.ReadPlan(File.ReadAllText(file.FullName)) : null;
                var plan = PlacementPolicies.Create(parse.GetValue(policy)!).Plan(snapshot, earlier);
                parse.InvocationConfiguration.Output.WriteLine(PlacementJson.Write(plan));
                return 0;
            }
            catch (Exception e) when (e is PlacementInputException or ArgumentException or IOException)
            {
                parse.InvocationConfiguration.Error.WriteLine($"error: {e.Message}");
                return 1;
            }
        });
        return command;
    }
}
