using System.CommandLine;
using LoRAQueue.History;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue db migrate`: applies migrations/*.sql to the job-history database.</summary>
internal static class DatabaseCommands
{
    public static Command Create()
    {
        var command = new Command("db", "Manage the job-history database");
        var connection = DatabaseAccess.ConnectionOption();
        var migrate = new Command("migrate", "Apply the schema migrations that are missing (safe to run again, and from several hosts at once)")
        {
            connection,
        };
        migrate.SetAction((parse, ct) => DatabaseAccess.RunAsync(parse, connection, async (_, connectionString, token) =>
        {
            var result = await Task.Run(() => DatabaseMigrator.Migrate(connectionString), token);
            var output = parse.InvocationConfiguration.Output;
            if (result.Applied.Count == 0)
                output.WriteLine($"the database is up to date ({DatabaseMigrator.ScriptNames.Count} migrations)");
            else
                output.WriteLine($"applied {result.Applied.Count} migrations: {string.Join(", ", result.Applied.Select(ScriptName))}");
            return 0;
        }, ct));
        command.Subcommands.Add(migrate);
        return command;
    }

    /// <summary>"migrations.0001_jobs.sql" → "0001_jobs.sql".</summary>
    private static string ScriptName(string resource) =>
        resource.StartsWith("migrations.", StringComparison.Ordinal) ? resource["migrations.".Length..] : resource;
}
