using System.CommandLine;
using System.Net.Sockets;
using LoRAQueue.History;
using Npgsql;

namespace LoRAQueue.Cli.Commands;

/// <summary>
/// How the database commands reach Postgres: --connection, else LORAQUEUE__POSTGRES__CONNECTIONSTRING (what the worker
/// reads), and how its failures become one clear line.
/// </summary>
internal static class DatabaseAccess
{
    public const string Variable = "LORAQUEUE__POSTGRES__CONNECTIONSTRING";

    public static Option<string?> ConnectionOption() => new("--connection")
    {
        Description = $"PostgreSQL connection string (default: ${Variable})",
    };

    /// <summary>Runs <paramref name="body"/> with a data source; database failures become "error: …" and exit code 1.</summary>
    public static async Task<int> RunAsync(ParseResult parse, Option<string?> connection,
                                           Func<NpgsqlDataSource, string, CancellationToken, Task<int>> body, CancellationToken ct)
    {
        var error = parse.InvocationConfiguration.Error;
        string? target = null;
        try
        {
            var connectionString = Resolve(parse.GetValue(connection));
            target = Describe(connectionString);
            await using var dataSource = NpgsqlDataSource.Create(connectionString);
            return await body(dataSource, connectionString, ct);
        }
        catch (CliException e)
        {
            return CliOutput.Fail(error, e.Message);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return CliOutput.Fail(error, $"the database {target} has no LoRAQueue tables ({e.MessageText}): run `loraqueue db migrate` first");
        }
        catch (PostgresException e)
        {
            return CliOutput.Fail(error, $"database {target}: {e.MessageText} (SQLSTATE {e.SqlState})");
        }
        catch (NpgsqlException e)
        {
            return CliOutput.Fail(error, $"cannot reach the database {target}: {Reason(e)}");
        }
        catch (MigrationException e)
        {
            return CliOutput.Fail(error, $"database {target}: {e.Message}");
        }
    }

    private static string Resolve(string? option)
    {
        var value = option ?? Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrWhiteSpace(value))
            throw new CliException($"no database given: pass --connection or set {Variable}");
        try
        {
            return new NpgsqlConnectionStringBuilder(value).ConnectionString;
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            throw new CliException($"the connection string is not valid: {e.Message}");
        }
    }

    /// <summary>host:port/database, never the password.</summary>
    private static string Describe(string connectionString)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        return $"{b.Host ?? "localhost"}:{b.Port}/{b.Database ?? b.Username ?? "(default)"}";
    }

    private static string Reason(Exception e)
    {
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
            if (inner is SocketException or TimeoutException) return $"{e.Message} ({inner.Message})";
        return e.Message;
    }
}
