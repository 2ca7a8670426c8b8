using System.CommandLine;
using System.Text.Json.Nodes;

namespace LoRAQueue.Cli.Commands;

/// <summary>
/// `loraqueue submit`: one prompt, or a JSONL file as a batch, through the HTTP gateway; with --wait, polls until the
/// job (or every job of the batch) has finished and prints the output (or the batch's results as JSONL).
/// </summary>
internal static class SubmitCommand
{
    public const string GatewayVariable = "LORAQUEUE_GATEWAY_URL";
    public const string ApiKeyVariable = "LORAQUEUE_API_KEY";

    public static Command Create()
    {
        var prompt = new Argument<string?>("prompt") { Description = "The prompt (omit with --file)", Arity = ArgumentArity.ZeroOrOne };
        var file = new Option<FileInfo?>("--file") { Description = "A JSONL batch: one job per line, each with a custom_id" };
        var adapter = new Option<string?>("--adapter") { Description = "Adapter id (default: the base model)" };
        var maxTokens = new Option<int?>("--max-tokens") { Description = "Output tokens at most (gateway default 64)" };
        var temperature = new Option<float?>("--temperature") { Description = "0 = greedy (default)" };
        var seed = new Option<ulong?>("--seed");
        var webhook = new Option<string?>("--webhook") { Description = "URL that receives the signed result (for a batch: batch.completed)" };
        var customId = new Option<string?>("--custom-id");
        var idempotencyKey = new Option<string?>("--idempotency-key") { Description = "Submitting again with the same key creates no second job" };
        var wait = new Option<bool>("--wait") { Description = "Wait for the result and print it" };
        var timeout = new Option<int>("--timeout") { Description = "Seconds --wait waits at most", DefaultValueFactory = _ => 600 };
        var gateway = new Option<string?>("--gateway") { Description = $"Gateway base URL (default ${GatewayVariable}, else http://127.0.0.1:8080)" };
        var apiKey = new Option<string?>("--api-key") { Description = $"API key (default ${ApiKeyVariable})" };
        var json = new Option<bool>("--json") { Description = "Print the gateway's JSON answers" };
        var command = new Command("submit", "Submit a prompt, or a JSONL batch, through the HTTP gateway")
        {
            prompt, file, adapter, maxTokens, temperature, seed, webhook, customId, idempotencyKey, wait, timeout, gateway, apiKey, json,
        };
        command.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            try
            {
                using var client = new GatewayClient(GatewayUri(parse.GetValue(gateway)), ApiKey(parse.GetValue(apiKey)));
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
                if (parse.GetValue(wait)) deadline.CancelAfter(TimeSpan.FromSeconds(parse.GetValue(timeout)));
                var request = new SubmitRequest(parse.GetValue(wait), parse.GetValue(json), output, error);
                if (parse.GetValue(file) is { } batchFile)
                {
                    if (parse.GetValue(prompt) is not null) throw new CliException("give a prompt or --file, not both");
                    return await SubmitBatchAsync(client, batchFile, parse.GetValue(webhook), request, deadline.Token);
                }
                var text = parse.GetValue(prompt) ?? throw new CliException("nothing to submit: give a prompt, or --file with JSONL");
                var job = new JsonObject { ["prompt"] = text };
                if (parse.GetValue(adapter) is { } a) job["adapter"] = a;
                if (parse.GetValue(maxTokens) is { } m) job["max_tokens"] = m;
                if (parse.GetValue(temperature) is { } t) job["temperature"] = t;
                if (parse.GetValue(seed) is { } s) job["seed"] = s;
                if (parse.GetValue(webhook) is { } w) job["webhook_url"] = w;
                if (parse.GetValue(customId) is { } c) job["custom_id"] = c;
                return await SubmitJobAsync(client, job, parse.GetValue(idempotencyKey), request, deadline.Token);
            }
            catch (CliException e)
            {
                return CliOutput.Fail(error, e.Message);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return CliOutput.Fail(error, $"no result within {parse.GetValue(timeout)} s (the job keeps running; look it up later)");
            }
        });
        return command;
    }

    private sealed record SubmitRequest(bool Wait, bool Json, TextWriter Output, TextWriter Error);

    private static async Task<int> SubmitJobAsync(GatewayClient client, JsonObject job, string? idempotencyKey, SubmitRequest request,
                                                  CancellationToken ct)
    {
        var accepted = await client.SubmitJobAsync(job, idempotencyKey, ct);
        var id = Guid.Parse((string)accepted["id"]!);
        if (!request.Wait)
        {
            request.Output.WriteLine(request.Json ? accepted.ToJsonString(CliOutput.Json) : id.ToString());
            return 0;
        }
        request.Error.WriteLine($"job {id} queued on {accepted["queue"]}; waiting");
        var done = await PollAsync(() => client.GetJobAsync(id, ct), j => (string?)j["status"] is "completed" or "failed", ct);
        if (request.Json) request.Output.WriteLine(done.ToJsonString(CliOutput.Json));
        if ((string?)done["status"] == "failed")
            return CliOutput.Fail(request.Error, $"job {id} failed: {done["error"]?["code"]}: {done["error"]?["message"]}");
        if (!request.Json) request.Output.WriteLine((string?)done["output_text"]);
        return 0;
    }

    private static async Task<int> SubmitBatchAsync(GatewayClient client, FileInfo file, string? webhook, SubmitRequest request,
                                                    CancellationToken ct)
    {
        if (!file.Exists) throw new CliException($"no such file: {file.FullName}");
        JsonObject accepted;
        await using (var body = file.OpenRead()) accepted = await client.SubmitBatchAsync(body, webhook, ct);
        foreach (var e in accepted["errors"]?.AsArray() ?? [])
            request.Error.WriteLine($"line {e?["line"]}: {e?["code"]}: {e?["message"]}");
        if (accepted["batch_id"] is null)
            return CliOutput.Fail(request.Error, $"no line of {file.Name} was accepted");
        var id = Guid.Parse((string)accepted["batch_id"]!);
        request.Error.WriteLine($"batch {id}: {accepted["accepted"]} of {accepted["total_lines"]} lines accepted, {accepted["rejected"]} rejected");
        if (!request.Wait)
        {
            request.Output.WriteLine(request.Json ? accepted.ToJsonString(CliOutput.Json) : id.ToString());
            return 0;
        }
        string last = "";
        await PollAsync(async () =>
        {
            var batch = await client.GetBatchAsync(id, ct);
            var counts = batch["counts"]?.ToJsonString() ?? "";
            if (counts != last) request.Error.WriteLine($"batch {id}: {counts}");
            last = counts;
            return batch;
        }, b => (string?)b["status"] == "completed", ct);
        request.Output.Write(await client.GetBatchResultsAsync(id, ct));
        return 0;
    }

    private static async Task<JsonObject> PollAsync(Func<Task<JsonObject>> read, Func<JsonObject, bool> done, CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            var value = await read();
            if (done(value)) return value;
            await Task.Delay(delay, ct);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 1.5, 2000));
        }
    }

    private static Uri GatewayUri(string? option)
    {
        var text = option ?? Environment.GetEnvironmentVariable(GatewayVariable) ?? "http://127.0.0.1:8080";
        if (!Uri.TryCreate(text.EndsWith('/') ? text : text + "/", UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new CliException($"the gateway URL '{text}' is not an http(s) URL");
        return uri;
    }

    private static string ApiKey(string? option) =>
        (option ?? Environment.GetEnvironmentVariable(ApiKeyVariable)) is { Length: > 0 } key ? key
            : throw new CliException($"no API key: pass --api-key or set {ApiKeyVariable} (create one with `loraqueue tenant create`)");
}
