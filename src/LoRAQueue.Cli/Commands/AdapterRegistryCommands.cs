using System.CommandLine;
using System.Globalization;
using LoRAQueue.History;
using Spectre.Console;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue adapter register|list`: the adapter registry in Postgres.</summary>
internal static class AdapterRegistryCommands
{
    private const string StoreVariable = "LORAQUEUE__ADAPTERSTORE__PATH";
    private const string ModelVariable = "LORAQUEUE__MODEL__PATH";

    public static Command RegisterCommand()
    {
        var id = new Argument<string>("id") { Description = "Adapter id: its directory name in the adapter store" };
        var tenant = new Option<string>("--tenant") { Description = "Tenant that owns the adapter", Required = true };
        var store = new Option<DirectoryInfo?>("--store") { Description = $"Adapter store directory (default: ${StoreVariable})" };
        var model = new Option<DirectoryInfo?>("--model") { Description = $"Base model directory to validate against (default: ${ModelVariable})" };
        var json = new Option<bool>("--json") { Description = "Print the registered adapter as JSON" };
        var connection = DatabaseAccess.ConnectionOption();
        var command = new Command("register", "Validate an adapter in the store against the base model and record it in the registry")
        {
            id, tenant, store, model, json, connection,
        };
        command.SetAction((parse, ct) => DatabaseAccess.RunAsync(parse, connection, async (dataSource, _, token) =>
        {
            var storePath = parse.GetValue(store)?.FullName ?? FromEnvironment(StoreVariable, "--store");
            var modelPath = parse.GetValue(model)?.FullName ?? FromEnvironment(ModelVariable, "--model");
            if (!Directory.Exists(modelPath)) throw new CliException($"base model directory '{modelPath}' does not exist");
            AdapterRecord record;
            try
            {
                var validator = AdapterValidator.ForModelDirectory(storePath, modelPath);
                record = await new PostgresAdapterRegistry(dataSource, validator).RegisterAsync(parse.GetValue(id)!, parse.GetValue(tenant)!, token);
            }
            catch (Exception e) when (e is AdapterRegistrationException or FormatException or IOException)
            {
                throw new CliException(e.Message);
            }
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json)) CliOutput.WriteJson(output, record);
            else output.WriteLine($"registered {record.Id} for {record.Tenant}: max rank {record.MaxRank}, bucket {record.RankBucket} (queue lora-rank-{record.RankBucket}), {record.ModuleCount} modules, {record.SizeBytes:N0} bytes, digest {record.Digest}");
            return 0;
        }, ct));
        return command;
    }

    public static Command ListCommand()
    {
        var tenant = new Option<string?>("--tenant") { Description = "Only this tenant's adapters" };
        var json = new Option<bool>("--json") { Description = "Print the adapters as a JSON array" };
        var connection = DatabaseAccess.ConnectionOption();
        var command = new Command("list", "List registered adapters") { tenant, json, connection };
        command.SetAction((parse, ct) => DatabaseAccess.RunAsync(parse, connection, async (dataSource, _, token) =>
        {
            var adapters = await new PostgresAdapterRegistry(dataSource).ListAsync(parse.GetValue(tenant), token);
            var output = parse.InvocationConfiguration.Output;
            if (parse.GetValue(json))
            {
                CliOutput.WriteJson(output, adapters);
                return 0;
            }
            var table = new Table().AddColumns("adapter", "tenant", "max rank", "bucket", "modules", "bytes", "registered (UTC)");
            foreach (var a in adapters)
                table.AddRow(Markup.Escape(a.Id), Markup.Escape(a.Tenant), a.MaxRank.ToString(CultureInfo.InvariantCulture),
                    a.RankBucket.ToString(CultureInfo.InvariantCulture), a.ModuleCount.ToString(CultureInfo.InvariantCulture),
                    a.SizeBytes.ToString("N0", CultureInfo.InvariantCulture),
                    a.CreatedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
            foreach (int column in new[] { 2, 3, 4, 5 }) table.Columns[column].RightAligned();
            var console = CliOutput.ConsoleFor(output);
            console.Write(table);
            console.WriteLine($"{adapters.Count} adapters");
            return 0;
        }, ct));
        return command;
    }

    private static string FromEnvironment(string variable, string option) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value
            ? Path.GetFullPath(value)
            : throw new CliException($"pass {option} or set {variable}");
}
