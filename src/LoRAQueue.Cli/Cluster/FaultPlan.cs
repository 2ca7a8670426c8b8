using System.Globalization;
using System.Text.Json;

namespace LoRAQueue.Cli.Cluster;

/// <summary>A fault plan that cannot be used: the message names the entry (by its index) and what is wrong with it.</summary>
internal sealed class FaultPlanException(string message) : Exception(message);

/// <summary>
/// One fault of a plan: <see cref="Action"/> at <see cref="AtSeconds"/> after the replay's start, with its arguments.
/// Actions (docs/cluster.md):
/// <list type="bullet">
/// <item><c>kill-workers</c> {fraction 0.25, restart true}: SIGKILL that share of the running workers (those holding the most jobs
/// first: mid-batch) and, unless restart is false, start as many new ones with fresh ids.</item>
/// <item><c>kill-rabbitmq-leader</c> {queue "busiest" or a queue name, down_seconds 10}: SIGKILL the node leading that quorum
/// queue (busiest: the rank queue with the most jobs in the trace) and start it again after down_seconds.</item>
/// <item><c>postgres-down</c> {seconds 30}: stop Postgres, start it again after that long.</item>
/// <item><c>kill-scheduler</c> {restart true}: SIGKILL the scheduler holding the lease (the standby takes over), then start a new one.</item>
/// <item><c>webhook-receiver-down</c> {seconds 60}: the webhook receiver resets every connection for that long.</item>
/// <item><c>redis-restart</c>: SIGKILL Redis and start it again, empty, on its port.</item>
/// <item><c>kill-gateway-during-batch</c> {lines 1000, max_tokens 16, kill_after_ms 200}: post a JSONL batch with an Idempotency-Key to
/// gateway 1, SIGKILL it while it queues the lines, post the same batch with the same key to gateway 2, start gateway 1 again.</item>
/// </list>
/// </summary>
internal sealed record FaultStep(int Index, double AtSeconds, string Action, IReadOnlyDictionary<string, JsonElement> Args)
{
    public double Number(string name, double fallback) =>
        Args.TryGetValue(name, out var v) ? v.GetDouble() : fallback;

    public bool Flag(string name, bool fallback) =>
        Args.TryGetValue(name, out var v) ? v.GetBoolean() : fallback;

    public string Text(string name, string fallback) =>
        Args.TryGetValue(name, out var v) ? v.GetString()! : fallback;

    /// <summary>How long the fault lasts from its start (its outage), 0 for an instant one.</summary>
    public double Duration => Action switch
    {
        "kill-rabbitmq-leader" => Number("down_seconds", 10),
        "postgres-down" => Number("seconds", 30),
        "webhook-receiver-down" => Number("seconds", 60),
        _ => 0,
    };

    public string Describe() => Action switch
    {
        "kill-workers" => string.Create(CultureInfo.InvariantCulture,
            $"SIGKILL {Number("fraction", 0.25):P0} of the workers{(Flag("restart", true) ? ", start as many new ones" : "")}"),
        "kill-rabbitmq-leader" => string.Create(CultureInfo.InvariantCulture,
            $"SIGKILL the RabbitMQ node leading {Text("queue", "busiest")}, back after {Duration:0.#} s"),
        "postgres-down" => string.Create(CultureInfo.InvariantCulture, $"Postgres down for {Duration:0.#} s"),
        "kill-scheduler" => "SIGKILL the leading scheduler" + (Flag("restart", true) ? ", start a new standby" : ""),
        "webhook-receiver-down" => string.Create(CultureInfo.InvariantCulture, $"webhook receiver down for {Duration:0.#} s"),
        "redis-restart" => "SIGKILL Redis, start it again empty",
        "kill-gateway-during-batch" => string.Create(CultureInfo.InvariantCulture,
            $"SIGKILL gateway 1 during a {Number("lines", 1000):0}-line batch upload, retry it on gateway 2"),
        _ => Action,
    };
}

/// <summary>Parses and checks a fault plan: a JSON list of {"at_seconds", "action", "args"}.</summary>
internal static class FaultPlan
{
    /// <summary>Each action and the arguments it takes (name → kind: number, fraction, bool, text).</summary>
    private static readonly Dictionary<string, Dictionary<string, string>> Actions = new(StringComparer.Ordinal)
    {
        ["kill-workers"] = new() { ["fraction"] = "fraction", ["restart"] = "bool" },
        ["kill-rabbitmq-leader"] = new() { ["queue"] = "text", ["down_seconds"] = "number" },
        ["postgres-down"] = new() { ["seconds"] = "number" },
        ["kill-scheduler"] = new() { ["restart"] = "bool" },
        ["webhook-receiver-down"] = new() { ["seconds"] = "number" },
        ["redis-restart"] = [],
        ["kill-gateway-during-batch"] = new() { ["lines"] = "number", ["max_tokens"] = "number", ["kill_after_ms"] = "number" },
    };

    public static IReadOnlyList<string> ActionNames => [.. Actions.Keys];

    public static IReadOnlyList<FaultStep> Parse(string json, string source = "fault plan")
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new FaultPlanException($"{source}: not JSON ({e.Message})");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array)
                throw new FaultPlanException($"{source}: expected a JSON list of {{\"at_seconds\", \"action\", \"args\"}}, got {Kind(document.RootElement)}");
            var steps = new List<FaultStep>();
            int index = 0;
            foreach (var entry in document.RootElement.EnumerateArray())
            {
                string where = $"{source}[{index}]";
                if (entry.ValueKind != JsonValueKind.Object) throw new FaultPlanException($"{where}: expected an object, got {Kind(entry)}");
                foreach (var property in entry.EnumerateObject())
                    if (property.Name is not ("at_seconds" or "action" or "args"))
                        throw new FaultPlanException($"{where}: unknown field '{property.Name}' (fields: at_seconds, action, args)");
                if (!entry.TryGetProperty("at_seconds", out var at) || at.ValueKind != JsonValueKind.Number)
                    throw new FaultPlanException($"{where}: at_seconds is required, a number of seconds after the replay starts");
                double atSeconds = at.GetDouble();
                if (!(atSeconds >= 0) || !double.IsFinite(atSeconds)) throw new FaultPlanException($"{where}: at_seconds must be ≥ 0 (got {at.GetRawText()})");
                if (!entry.TryGetProperty("action", out var actionElement) || actionElement.ValueKind != JsonValueKind.String)
                    throw new FaultPlanException($"{where}: action is required, one of {string.Join(", ", Actions.Keys)}");
                string action = actionElement.GetString()!;
                if (!Actions.TryGetValue(action, out var known))
                    throw new FaultPlanException($"{where}: unknown action '{action}' (known: {string.Join(", ", Actions.Keys)})");
                var args = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
                if (entry.TryGetProperty("args", out var argsElement) && argsElement.ValueKind != JsonValueKind.Null)
                {
                    if (argsElement.ValueKind != JsonValueKind.Object) throw new FaultPlanException($"{where}: args must be an object, got {Kind(argsElement)}");
                    foreach (var arg in argsElement.EnumerateObject())
                    {
                        if (!known.TryGetValue(arg.Name, out var kind))
                            throw new FaultPlanException($"{where}: {action} takes no argument '{arg.Name}'" +
                                                         (known.Count == 0 ? "" : $" (it takes: {string.Join(", ", known.Keys)})"));
                        CheckArgument(where, action, arg.Name, kind, arg.Value);
                        args[arg.Name] = arg.Value.Clone();
                    }
                }
                steps.Add(new FaultStep(index, atSeconds, action, args));
                index++;
            }
            var ordered = steps.OrderBy(s => s.AtSeconds).ThenBy(s => s.Index).ToList();
            for (int i = 1; i < ordered.Count; i++)
            {
                var before = ordered[i - 1];
                if (ordered[i].AtSeconds < before.AtSeconds + before.Duration)
                    throw new FaultPlanException(string.Create(CultureInfo.InvariantCulture,
                        $"{source}[{ordered[i].Index}]: starts at {ordered[i].AtSeconds:0.###} s while {source}[{before.Index}] ({before.Action}) lasts until {before.AtSeconds + before.Duration:0.###} s: one fault at a time"));
            }
            return ordered;
        }
    }

    private static void CheckArgument(string where, string action, string name, string kind, JsonElement value)
    {
        switch (kind)
        {
            case "bool" when value.ValueKind is not (JsonValueKind.True or JsonValueKind.False):
                throw new FaultPlanException($"{where}: {action}'s {name} must be true or false (got {value.GetRawText()})");
            case "text" when value.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(value.GetString()):
                throw new FaultPlanException($"{where}: {action}'s {name} must be a non-empty string (got {value.GetRawText()})");
            case "number" when value.ValueKind != JsonValueKind.Number || !(value.GetDouble() > 0):
                throw new FaultPlanException($"{where}: {action}'s {name} must be a positive number (got {value.GetRawText()})");
            case "fraction" when value.ValueKind != JsonValueKind.Number || !(value.GetDouble() > 0 && value.GetDouble() <= 1):
                throw new FaultPlanException($"{where}: {action}'s {name} must be a number in (0, 1] (got {value.GetRawText()})");
        }
    }

    private static string Kind(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "a list",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        _ => element.GetRawText(),
    };
}
