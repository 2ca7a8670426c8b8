using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using LoRAQueue.History;
using LoRAQueue.Messaging;
using Npgsql;
using RabbitMQ.Client;

namespace LoRAQueue.Cli.Reliability;

/// <summary>What the drill is pointed at, and how hard and how long it pushes.</summary>
internal sealed record DrillOptions(Uri Gateway, string ApiKey, RabbitMqSettings RabbitMq, string PostgresConnectionString,
    string ServicesScript, string ServicesEnv, double Rate, TimeSpan Steady, TimeSpan PostgresOutage, TimeSpan RabbitMqOutage, TimeSpan Drain);

/// <summary>One phase's jobs and what became of them.</summary>
internal sealed record PhaseResult(string Phase, int Submitted, int Accepted, int Refused503, int RetryAfter, int OtherAnswers, int RawPublished,
    int Terminal, int RowsAsLastEvent, int RowsExact, int WebhooksExpected, int DeliveredOnce, int Duplicated, int Missing);

/// <summary>
/// The fault drill behind docs/reliability.md: a steady load over HTTP (with a webhook each, some prompts holding U+0000, hot
/// sampling so some outputs do too) and over raw AMQP, through phases — steady, Postgres stopped, recovery, RabbitMQ stopped,
/// recovery — then a drain. Afterwards, from the events the workers published (<see cref="EventTap"/>): does every job's
/// history row hold the state of its last event and exactly what it said and produced, and did the receiver get every
/// webhook exactly once? Faults are real: `scripts/services.sh down|up`.
/// </summary>
internal sealed class OutageDrill(DrillOptions options, TextWriter progress)
{
    private sealed record Submission(Guid JobId, string Phase, string Prompt, bool Raw);

    private readonly List<Submission> _accepted = [];
    private readonly List<Task> _submitting = []; // a raw producer waits out a broker outage: its publishes end after the phase
    private readonly Dictionary<string, int[]> _answers = []; // phase → [submitted, accepted, 503, with Retry-After, other, raw]
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, System.Collections.Concurrent.ConcurrentBag<double>> _refusalMs = new();
    private int _sequence;

    public async Task<IReadOnlyList<PhaseResult>> RunAsync(CancellationToken ct)
    {
        await using var receiver = new DrillReceiver();
        await using var tap = await EventTap.StartAsync(options.RabbitMq, ct);
        using var http = new HttpClient { BaseAddress = options.Gateway, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.ApiKey);
        var amqp = RabbitMqRankQueueDeclarer.CreateConnectionFactory(options.RabbitMq, "loraqueue-drill-producer");

        await LoadAsync("steady", options.Steady, http, amqp, receiver.Url, ct);
        await Fault("postgres", options.PostgresOutage, () => LoadAsync("postgres down", options.PostgresOutage, http, amqp, receiver.Url, ct));
        await LoadAsync("after postgres", options.Steady, http, amqp, receiver.Url, ct);
        await Fault("rabbitmq", options.RabbitMqOutage, () => LoadAsync("rabbitmq down", options.RabbitMqOutage, http, amqp, receiver.Url, ct));
        await LoadAsync("after rabbitmq", options.Steady, http, amqp, receiver.Url, ct);
        await Task.WhenAll(_submitting);
        foreach (var (phase, c) in _answers)
        {
            var ms = _refusalMs.GetValueOrDefault(phase)?.Order().ToList() ?? [];
            string refusals = ms.Count == 0 ? "" : $" answered in {ms[ms.Count / 2]:F0} ms median, {ms[^1]:F0} ms max";
            progress.WriteLine($"{phase}: {c[0]} over HTTP: {c[1]} accepted, {c[2]} refused 503 ({c[3]} with Retry-After){refusals}, {c[4]} other; {c[5]} raw published");
        }

        progress.WriteLine($"draining: up to {options.Drain.TotalSeconds:0} s for {_accepted.Count} jobs to finish and their webhooks to arrive");
        await using var database = NpgsqlDataSource.Create(options.PostgresConnectionString);
        var history = new PostgresJobHistory(database);
        var rows = new Dictionary<Guid, JobRecord>();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < options.Drain)
        {
            foreach (var job in _accepted.Where(j => rows.GetValueOrDefault(j.JobId)?.Status is not (JobStatus.Completed or JobStatus.Failed)))
                if (await history.GetAsync(job.JobId, ct) is { } row) rows[job.JobId] = row;
            int terminal = rows.Values.Count(r => r.Status is JobStatus.Completed or JobStatus.Failed);
            if (terminal == _accepted.Count && receiver.Receipts.Count >= terminal) break;
            progress.WriteLine($"  {clock.Elapsed.TotalSeconds,4:0} s: {terminal}/{_accepted.Count} terminal in the history, {receiver.Receipts.Count} webhooks received");
            await Task.Delay(TimeSpan.FromSeconds(2), ct);
        }
        await Task.Delay(TimeSpan.FromSeconds(5), ct); // any delivery sent twice arrives by now
        foreach (var job in _accepted) if (await history.GetAsync(job.JobId, ct) is { } row) rows[job.JobId] = row;
        progress.WriteLine($"U+0000 held by {_accepted.Count(j => j.Prompt.Contains('\0', StringComparison.Ordinal))} prompts and " +
                           $"{rows.Values.Count(r => r.OutputText?.Contains('\0', StringComparison.Ordinal) == true)} outputs");
        return Score(rows, tap, receiver);
    }

    private async Task Fault(string service, TimeSpan length, Func<Task> during)
    {
        await ServicesAsync("down", service);
        try { await during(); }
        finally { await ServicesAsync("up", service); }
    }

    /// <summary>Submits at <see cref="DrillOptions.Rate"/> for <paramref name="length"/>: four of five jobs over HTTP, one raw.</summary>
    private async Task LoadAsync(string phase, TimeSpan length, HttpClient http, ConnectionFactory amqp, string webhook, CancellationToken ct)
    {
        var counts = _answers[phase] = new int[6];
        progress.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {phase}: {length.TotalSeconds:0} s at {options.Rate} jobs/s");
        var clock = Stopwatch.StartNew();
        for (long n = 0; clock.Elapsed < length; n++)
        {
            var due = TimeSpan.FromSeconds(n / options.Rate);
            if (due > clock.Elapsed) await Task.Delay(due - clock.Elapsed, ct);
            int i = Interlocked.Increment(ref _sequence);
            // One prompt in ten holds U+0000; hot sampling makes byte-fallback <0x00> tokens, i.e. U+0000, in some outputs.
            string prompt = i % 10 == 0 ? $"job {i} with a NUL \0 inside" : $"job {i} of the drill";
            _submitting.Add(i % 5 == 0 ? PublishRawAsync(phase, prompt, amqp, webhook, counts, ct) : PostAsync(phase, prompt, i, http, webhook, counts, ct));
        }
    }

    private async Task PostAsync(string phase, string prompt, int i, HttpClient http, string webhook, int[] counts, CancellationToken ct)
    {
        Interlocked.Increment(ref counts[0]);
        var clock = Stopwatch.StartNew();
        try
        {
            using var response = await http.PostAsJsonAsync("v1/jobs", new
            {
                prompt, max_tokens = 32, temperature = 1.5, seed = i, webhook_url = webhook,
            }, ct);
            if (response.StatusCode == HttpStatusCode.Accepted)
            {
                var id = (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("id").GetGuid();
                lock (_accepted) _accepted.Add(new Submission(id, phase, prompt, Raw: false));
                Interlocked.Increment(ref counts[1]);
            }
            else if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
            {
                Interlocked.Increment(ref counts[2]);
                _refusalMs.GetOrAdd(phase, _ => []).Add(clock.Elapsed.TotalMilliseconds);
                if (response.Headers.RetryAfter is not null) Interlocked.Increment(ref counts[3]);
            }
            else
            {
                Interlocked.Increment(ref counts[4]);
                progress.WriteLine($"  unexpected {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
            }
        }
        catch (HttpRequestException e)
        {
            Interlocked.Increment(ref counts[4]);
            progress.WriteLine($"  no answer: {e.Message}");
        }
    }

    /// <summary>A producer in another language: plain JSON to the base queue's exchange, retried until the broker confirms it.</summary>
    private async Task PublishRawAsync(string phase, string prompt, ConnectionFactory amqp, string webhook, int[] counts, CancellationToken ct)
    {
        var id = Guid.NewGuid();
        var body = JsonSerializer.SerializeToUtf8Bytes(new { jobId = id, tenant = "drill", prompt, maxTokens = 32, webhookUrl = webhook, submittedAt = DateTimeOffset.UtcNow });
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                await using var connection = await RabbitMqConnections.ConnectAsync(amqp, options.RabbitMq, ct);
                await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(true, true), ct);
                await channel.BasicPublishAsync("lora-base", "", mandatory: true,
                    new BasicProperties { ContentType = "application/json", DeliveryMode = DeliveryModes.Persistent, MessageId = id.ToString() }, body, ct);
                break;
            }
            catch (Exception e) when (e is RabbitMQ.Client.Exceptions.BrokerUnreachableException or RabbitMQ.Client.Exceptions.AlreadyClosedException
                                       or RabbitMQ.Client.Exceptions.OperationInterruptedException or IOException
                                       or RabbitMQ.Client.Exceptions.PublishException { IsReturn: false } && attempt < 600)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), ct); // the broker is down: a producer waits for it
            }
        }
        lock (_accepted) _accepted.Add(new Submission(id, phase, prompt, Raw: true));
        Interlocked.Increment(ref counts[5]);
    }

    private IReadOnlyList<PhaseResult> Score(Dictionary<Guid, JobRecord> rows, EventTap tap, DrillReceiver receiver)
    {
        var results = new List<PhaseResult>();
        foreach (var (phase, counts) in _answers)
        {
            var jobs = _accepted.Where(j => j.Phase == phase).ToList();
            int terminal = 0, asLastEvent = 0, exact = 0, expected = 0, once = 0, twice = 0, missing = 0;
            foreach (var job in jobs)
            {
                var events = tap.Events.TryGetValue(job.JobId, out var queue) ? queue.ToList() : [];
                var end = events.FirstOrDefault(e => e.Type is "JobCompleted" or "JobFailed"); // the first terminal event wins
                var last = end ?? events.LastOrDefault();
                rows.TryGetValue(job.JobId, out var row);
                if (end is not null) terminal++;
                string expectedStatus = last?.Type switch { "JobCompleted" => "completed", "JobFailed" => "failed", "JobStarted" => "running", _ => "queued" };
                if (row is not null && JobStatuses.Name(row.Status) == expectedStatus) asLastEvent++;
                if (row is not null && row.Prompt == job.Prompt && (end?.Type != "JobCompleted" || row.OutputText == end.OutputText)) exact++;
                if (end is null) continue;
                expected++;
                int received = receiver.Receipts.GetValueOrDefault((end.Type == "JobCompleted" ? "job.completed" : "job.failed", job.JobId));
                if (received == 1) once++;
                else if (received > 1) twice++;
                else missing++;
            }
            results.Add(new PhaseResult(phase, counts[0] + counts[5], counts[1] + counts[5], counts[2], counts[3], counts[4], counts[5],
                                        terminal, asLastEvent, exact, expected, once, twice, missing));
        }
        return results;
    }

    private async Task ServicesAsync(string verb, string service)
    {
        progress.WriteLine($"{DateTime.UtcNow:HH:mm:ss} {service} {verb}");
        var start = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(options.ServicesScript);
        start.ArgumentList.Add(verb);
        start.ArgumentList.Add(service);
        start.Environment["LORAQUEUE_SERVICES_ENV"] = options.ServicesEnv;
        using var process = Process.Start(start)!;
        string output = await process.StandardError.ReadToEndAsync() + await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0) throw new InvalidOperationException($"services.sh {verb} {service} failed: {output}");
    }

    /// <summary>The results as the markdown table docs/reliability.md shows.</summary>
    public static string Table(IReadOnlyList<PhaseResult> results)
    {
        var table = new StringBuilder();
        table.AppendLine("| phase | submitted | accepted | 503 (Retry-After) | other | finished | row = last event | stored exactly | webhooks due | delivered once | twice+ | missing |");
        table.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in results.Append(Total(results)))
            table.AppendLine($"| {r.Phase} | {r.Submitted} | {r.Accepted} | {r.Refused503} ({r.RetryAfter}) | {r.OtherAnswers} | {r.Terminal} | " +
                             $"{r.RowsAsLastEvent} | {r.RowsExact} | {r.WebhooksExpected} | {r.DeliveredOnce} | {r.Duplicated} | {r.Missing} |");
        return table.ToString();
    }

    private static PhaseResult Total(IReadOnlyList<PhaseResult> r) => new("**all**", r.Sum(x => x.Submitted), r.Sum(x => x.Accepted),
        r.Sum(x => x.Refused503), r.Sum(x => x.RetryAfter), r.Sum(x => x.OtherAnswers), r.Sum(x => x.RawPublished), r.Sum(x => x.Terminal),
        r.Sum(x => x.RowsAsLastEvent), r.Sum(x => x.RowsExact), r.Sum(x => x.WebhooksExpected), r.Sum(x => x.DeliveredOnce),
        r.Sum(x => x.Duplicated), r.Sum(x => x.Missing));
}
