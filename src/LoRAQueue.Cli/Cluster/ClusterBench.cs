using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using LoRAQueue.Cli.Reliability;
using LoRAQueue.Core.Costs;
using LoRAQueue.Core.Placement;
using LoRAQueue.Formats;
using LoRAQueue.History;
using LoRAQueue.History.Tenants;
using LoRAQueue.LoadState;
using LoRAQueue.Messaging;
using LoRAQueue.Twin;
using LoRAQueue.Workloads;
using Npgsql;
using StackExchange.Redis;

namespace LoRAQueue.Cli.Cluster;

/// <summary>What `bench cluster` runs and against what.</summary>
internal sealed record ClusterOptions
{
    public required string TracePath { get; init; }
    public int Workers { get; init; } = 32;
    public int Gateways { get; init; } = 2;
    public int Schedulers { get; init; } = 2;
    public string Profile { get; init; } = "a100";
    public string Kernel { get; init; } = "segmented";
    public string Policy { get; init; } = "replicate-all";
    public double RateScale { get; init; } = 1;
    public double? Duration { get; init; }
    public int? MaxRows { get; init; }
    public double SloTtft { get; init; } = 6;
    public int? MaxSequences { get; init; }
    public int MaxBatchTokens { get; init; } = 2048;
    public long? KvTokens { get; init; }
    public int MaxAdapters { get; init; } = 64;
    public string Peers { get; init; } = "off";
    public required string ModelPath { get; init; }
    public required string AdapterStorePath { get; init; }
    public required string WorkDir { get; init; }
    public string Tenant { get; init; } = "cluster";
    public string? ApiKey { get; init; }
    public required RabbitMqSettings RabbitMq { get; init; }
    public required string PostgresConnectionString { get; init; }
    public required string RedisConfiguration { get; init; }
    public string ServicesScript { get; init; } = "scripts/services.sh";
    public string? ServicesEnv { get; init; }
    public IReadOnlyList<FaultStep> Faults { get; init; } = [];
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromMinutes(5);
    public bool Twin { get; init; } = true;
    /// <summary>The twin's fixed delivery → engine time per job (TwinOptions.PickupSeconds), in ms; 0: none.</summary>
    public double TwinPickupMs { get; init; }
    public int StartWave { get; init; } = 4;
    public string WebhookRetrySchedule { get; init; } = "1s,2s,5s,10s,20s,30s,60s";
    public required string CliDll { get; init; }
    public required string Dotnet { get; init; }
}

/// <summary>
/// `loraqueue bench cluster`: a fleet of separate processes — gateways, schedulers (one leads by its lease) and emulated workers —
/// against the servers it is given, a trace replayed through the gateways at its own times, the optional fault plan, and the
/// count of every job from the workers' events (<see cref="EventTap"/>), the history and the webhook receiver
/// (<see cref="DrillReceiver"/>), beside the digital twin's prediction for the same requests and fleet.
/// </summary>
internal sealed partial class ClusterBench(ClusterOptions options, TextWriter progress)
{
    private readonly List<ClusterProcess> _processes = [];
    private readonly List<ClusterProcess> _servers = [];
    private readonly ConcurrentBag<AcceptedJob> _accepted = [];
    private readonly ConcurrentBag<double> _lateness = [];
    private readonly List<FaultOutcome> _faults = [];
    private int _refused, _other, _retried, _retryAttempts, _replayed, _unansweredTries, _workerSequence, _schedulerSequence;
    private string[] _gatewayUrls = [];
    private Dictionary<string, string> _baseEnvironment = [];
    private DateTimeOffset _replayStart;
    private readonly Stopwatch _clock = new();
    private readonly string _runStamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
    private readonly ConcurrentDictionary<Guid, DateTimeOffset> _dueAt = new();
    private readonly Dictionary<string, (double Modelled, double Lost)> _emulationBaseline = [];
    private int _warmupJobs, _warmupRefused;
    private IReadOnlyList<ReplayItem> _items = [];
    private HttpClient[] _http = [];
    private int _maxSequences, _kvCacheMb;
    private NpgsqlDataSource? _database;
    private string[] _prompts = [];

    private void Say(string line) => progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{DateTime.UtcNow:HH:mm:ss} {line}"));

    public async Task<ClusterReport> RunAsync(CancellationToken ct)
    {
        var wall = Stopwatch.StartNew();
        var profile = AcceleratorProfiles.Resolve(options.Profile);
        var workload = TraceReader.Read(options.TracePath, options.MaxRows);
        var model = ModelConfig.Load(options.ModelPath);
        var tokenizer = ModelTokenizer.Load(options.ModelPath);
        var schedule = ReplaySchedule.Build(workload.Requests, options.RateScale, options.Gateways, options.Duration, model.MaxPositionEmbeddings);
        _items = schedule.Items;
        if (_items.Count == 0) throw new InvalidOperationException($"{options.TracePath}: no request to replay");
        int maxSequences = options.MaxSequences ?? profile.Capacity?.MaxBatch ?? 32;
        long bytesPerToken = (long)model.NumHiddenLayers * 2 * model.KeyValueDim * 4;
        long kvTarget = options.KvTokens ?? profile.Capacity?.KvTokens ?? 65536;
        int kvCacheMb = (int)Math.Max(1, (kvTarget * bytesPerToken + (1 << 20) - 1) >> 20);
        long kvTokens = ((long)kvCacheMb << 20) / (16 * bytesPerToken) * 16;
        (_maxSequences, _kvCacheMb) = (maxSequences, kvCacheMb); // every worker started, now or after a fault, gets these
        var setup = new ClusterSetup(options.Workers, options.Gateways, options.Schedulers,
            options.RabbitMq.Hosts is { Length: > 0 } h ? h : $"{options.RabbitMq.Host}:{options.RabbitMq.Port}", profile.Name, options.Kernel,
            options.Policy, maxSequences, options.MaxBatchTokens, kvTokens, kvCacheMb, options.MaxAdapters, options.Peers,
            $"{Path.GetFileName(Path.TrimEndingDirectorySeparator(options.ModelPath))} (config + tokenizer; hidden {model.HiddenSize}, {model.NumHiddenLayers} layers, context {model.MaxPositionEmbeddings})",
            options.SloTtft, options.RateScale, Environment.ProcessorCount);
        Say($"{_items.Count} requests over {_items[^1].DueSeconds:0.#} s ({schedule.OfferedRps:0.##} req/s offered, {schedule.Clamped} clamped to the context); " +
            $"{options.Workers} workers × {maxSequences} sequences, {kvTokens} KV tokens ({kvCacheMb} MiB of this model's KV), {options.MaxBatchTokens} batch tokens");

        // Twin first: it takes seconds and needs nothing running.
        TwinResult? twin = null, twinWithoutPickup = null;
        if (options.Twin)
        {
            twin = RunTwin(profile, maxSequences, kvTokens, options.TwinPickupMs / 1e3);
            if (options.TwinPickupMs > 0) twinWithoutPickup = RunTwin(profile, maxSequences, kvTokens, 0);
            Say($"twin: {twin.ThroughputRps:0.##} req/s, TTFT p50 {twin.TtftP50S:0.###} s p95 {twin.TtftP95S:0.###} s, mean utilisation {twin.WorkerStats.Average(w => w.Utilisation):P0}");
        }

        await using var database = NpgsqlDataSource.Create(options.PostgresConnectionString);
        string apiKey = await PrepareTenantAndAdaptersAsync(database, ct);
        var prompts = new PromptMaker(text => tokenizer.Encode(text, addBos: true).Count);
        var promptByItem = _items.Select(i => prompts.Make(i.InputTokens)).ToArray();
        int inexact = _items.Where((item, k) => tokenizer.Encode(promptByItem[k], addBos: true).Count != item.InputTokens).Count();
        if (inexact > 0) Say($"warning: {inexact} prompts do not tokenize to exactly their trace length");

        using var redis = await ConnectionMultiplexer.ConnectAsync(options.RedisConfiguration + ",abortConnect=false,connectTimeout=2000");
        var loadState = new RedisLoadState(redis);
        await using var receiver = new DrillReceiver();
        await using var tap = await EventTap.StartAsync(options.RabbitMq, ct, "loraqueue-cluster-events");
        AttachServers();
        using var sampling = new CancellationTokenSource();
        var sampler = SampleAsync(sampling.Token);
        try
        {
            _baseEnvironment = BaseEnvironment();
            await StartFleetAsync(loadState, ct);

            var http = _gatewayUrls.Select(url =>
            {
                var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) })
                {
                    BaseAddress = new Uri(url + "/"), Timeout = TimeSpan.FromSeconds(30),
                };
                client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
                return client;
            }).ToArray();

            _http = http;
            _database = database;
            _prompts = promptByItem;
            await WarmUpAsync(http, tap, receiver.Url, ct);
            foreach (var p in _processes.Concat(_servers)) p.StartWindow();
            foreach (var p in _processes.Where(p => p.Role == "worker")) _emulationBaseline[p.Id] = ParseEmulation(p.Watched.LastOrDefault());
            _replayStart = DateTimeOffset.UtcNow;
            _clock.Start();
            Say($"replaying {_items.Count} requests through {_gatewayUrls.Length} gateways");
            var faults = RunFaultsAsync(receiver, loadState, redis, ct);
            var sends = new List<Task>(_items.Count);
            var reporter = ReportProgressAsync(tap, receiver, loadState, sending: true, sampling.Token);
            foreach (var item in _items)
            {
                var due = TimeSpan.FromSeconds(item.DueSeconds);
                if (due > _clock.Elapsed) await Task.Delay(due - _clock.Elapsed, ct);
                _lateness.Add((_clock.Elapsed - due).TotalMilliseconds);
                sends.Add(PostAsync(http, item, promptByItem[item.Index], receiver.Url, ct));
            }
            await Task.WhenAll(sends);
            await faults;
            Say($"sent: {_accepted.Count} accepted ({_retried} after a retry, {_retryAttempts} retries in all), {_refused} refused (503) after {MaxAttempts} tries, {_other} other; draining (at most {options.DrainTimeout.TotalSeconds:0} s)");
            await DrainAsync(tap, receiver, ct);
            await Task.Delay(TimeSpan.FromSeconds(5), ct); // a duplicate delivery or event arrives by now
            foreach (var client in http) client.Dispose();

            var rows = await RetryAsync(database, () => ReadHistoryAsync(database, ct));
            var placements = await RetryAsync(database, () => ReadPlacementsAsync(database, ct));
            var events = tap.Events.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<TappedEvent>)kv.Value.ToList());
            // Once per webhook-id: a delivery sent again under its id after the gateway sending it was killed is counted apart.
            var redelivered = receiver.Receipts.Sum(r => r.Value) - receiver.DistinctReceipts.Sum(r => r.Value);
            var receipts = receiver.DistinctReceipts.Where(r => r.Key.Type is "job.completed" or "job.failed")
                .GroupBy(r => r.Key.Subject).ToDictionary(g => g.Key, g => g.Sum(r => r.Value));
            var accepted = _accepted.OrderBy(a => a.Index).ToList();
            var counts = JobAccounting.Count(accepted, events, rows, receipts);
            var batchChecks = await RetryAsync(database, () => CheckDrillBatchesAsync(ct));
            var requestsWithTwoJobs = await RetryAsync(database, () => CountRequestsWithTwoJobsAsync(database, ct));
            var live = LiveFigures([.. accepted.Where(a => a.Index >= 0)], events); // the drill batch (index < 0) is not the trace
            var completions = events.Values.Select(l => l.FirstOrDefault(e => e.Type == "JobCompleted")?.At).OfType<DateTimeOffset>()
                .Select(t => (t - _replayStart).TotalSeconds).ToList();
            var outcomes = _faults.Select(f => f with { RecoveryS = JobAccounting.RecoverySeconds(completions, f.StartedAtS, f.EndedAtS) }).ToList();

            // The window ends here: the servers now, each process of the fleet at its last sample before its SIGTERM.
            var measured = Math.Max(1e-9, _clock.Elapsed.TotalSeconds);
            var serverUsage = _servers.Select(p => p.Usage()).ToList();
            Say("stopping the fleet");
            await StopFleetAsync();
            await sampling.CancelAsync();
            await sampler;
            await reporter;
            List<ClusterProcess> fleet;
            lock (_processes) fleet = [.. _processes];
            var usage = fleet.Select(p => p.Usage(p.Killed ? "killed" : "stopped")).Concat(serverUsage).ToList();
            var notes = new List<string>
            {
                $"peers: {options.Peers} (LoRAQueue:Worker:Peers){(options.Peers == "off" ? ": adapters from the store only; UCX progress threads would cost ~4 % of a core per idle worker (docs/emulated-workers.md)" : "")}",
                $"webhook retry schedule shortened to {options.WebhookRetrySchedule} (LoRAQueue:Webhooks:RetrySchedule)",
                $"producer: every request with an Idempotency-Key, tried up to {MaxAttempts} times (503 or no answer: the next gateway after Retry-After, at most 5 s)",
                "TTFT live: from the request's due time in the replay to its first token (gateway lateness, queueing, adapter load included)",
                "CPU in the usage table: from the replay's start to the end of the drain; total: since the process started (JIT and calibration included)",
                "child processes run with DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0 (no thread-pool spinning), DOTNET_gcServer=0, DOTNET_GCgen0size=16 MB",
            };
            if (inexact > 0) notes.Add($"{inexact} prompts did not tokenize to exactly their trace length");
            notes.Add($"warm-up before the replay: {_warmupJobs} small jobs accepted (base model and adapter {WarmupAdapter}), {_warmupRefused} refused or unanswered, not counted");
            notes.Add("emulation: modelled and lost step time from the replay's start to each worker's stop (each worker logs its totals every 5 s)");
            var rowsTwin = twin is null ? null : TwinFigures(twin);
            return new ClusterReport
            {
                Trace = $"{Path.GetFileName(options.TracePath)}: {workload.Description}",
                Requests = _items.Count,
                OfferedRps = Math.Round(schedule.OfferedRps, 3),
                Clamped = schedule.Clamped,
                Setup = setup,
                Accepted = _accepted.Count,
                Refused = _refused,
                OtherAnswers = _other,
                Retried = _retried,
                RetryAttempts = _retryAttempts,
                Replayed = _replayed,
                SubmitLatenessP99Ms = Figures.Percentile([.. _lateness], 0.99) is { } l ? Math.Round(l, 1) : null,
                Live = live,
                Twin = rowsTwin,
                Comparison = rowsTwin is null ? null : Figures.Compare(live, rowsTwin, twin!),
                TwinPickupMs = options.TwinPickupMs,
                TwinWithoutPickup = twinWithoutPickup is null ? null : TwinFigures(twinWithoutPickup),
                Jobs = counts,
                Faults = outcomes,
                Batches = batchChecks,
                RequestsWithTwoJobs = requestsWithTwoJobs,
                WebhooksRedelivered = redelivered,
                Placements = placements,
                Adapters = AdapterFiguresOf(events, tap),
                Emulation = EmulationOf(),
                Usage = Figures.ByRole(usage, measured),
                Processes = usage,
                WallSeconds = Math.Round(wall.Elapsed.TotalSeconds, 1),
                Notes = notes,
            };
        }
        finally
        {
            await sampling.CancelAsync();
            foreach (var p in _processes) await p.DisposeAsync();
        }
    }

    // ------------------------------------------------------------------ preparation

    private async Task<string> PrepareTenantAndAdaptersAsync(NpgsqlDataSource database, CancellationToken ct)
    {
        string apiKey = options.ApiKey ?? "";
        if (options.ApiKey is null)
        {
            var created = await new TenantStore(database).CreateAsync(options.Tenant, options.Tenant, new TenantLimits(null, null, 10_000_000), ct);
            apiKey = created.ApiKey;
            Say($"tenant {options.Tenant} created");
        }
        var registry = new PostgresAdapterRegistry(database, AdapterValidator.ForModelDirectory(options.AdapterStorePath, options.ModelPath));
        var adapters = _items.Where(i => i.AdapterId is not null).GroupBy(i => i.AdapterId!).Select(g => (Id: g.Key, g.First().Rank)).ToList();
        int made = 0;
        foreach (var (id, rank) in adapters)
        {
            string dir = Path.Combine(options.AdapterStorePath, id);
            if (!File.Exists(Path.Combine(dir, "adapter_config.json")))
            {
                SyntheticAdapter.Create(options.ModelPath, rank, null, dir, seed: StableSeed(id));
                made++;
            }
            await registry.RegisterAsync(id, options.Tenant, ct);
        }
        // The warm-up's own adapter (not in the trace): the first adapter pull and load on each worker pay its JIT, not a replayed job.
        string warmDir = Path.Combine(options.AdapterStorePath, WarmupAdapter);
        if (!File.Exists(Path.Combine(warmDir, "adapter_config.json"))) SyntheticAdapter.Create(options.ModelPath, 8, null, warmDir, seed: StableSeed(WarmupAdapter));
        await registry.RegisterAsync(WarmupAdapter, options.Tenant, ct);
        Say($"{adapters.Count} adapters registered for tenant {options.Tenant} ({made} created in {options.AdapterStorePath})");
        return apiKey;
    }

    private const string WarmupAdapter = "cluster-warmup-rank-8";

    /// <summary>FNV-1a 64 of the id: the same adapter bytes for the same id in every run.</summary>
    private static ulong StableSeed(string id)
    {
        ulong hash = 14695981039346656037;
        foreach (char c in id) hash = (hash ^ c) * 1099511628211;
        return hash;
    }

    private Dictionary<string, string> BaseEnvironment()
    {
        var env = new Dictionary<string, string>
        {
            ["LORAQUEUE__MODEL__PATH"] = options.ModelPath,
            ["LORAQUEUE__ADAPTERSTORE__PATH"] = options.AdapterStorePath,
            ["LORAQUEUE__WEBHOOKS__ALLOWEDNETWORKS"] = "127.0.0.0/8",
            ["LORAQUEUE__WEBHOOKS__RETRYSCHEDULE"] = options.WebhookRetrySchedule,
            ["LORAQUEUE__REDIS__CONFIGURATION"] = options.RedisConfiguration,
            ["LORAQUEUE__POSTGRES__CONNECTIONSTRING"] = options.PostgresConnectionString,
            ["LORAQUEUE__RABBITMQ__HOST"] = options.RabbitMq.Host,
            ["LORAQUEUE__RABBITMQ__PORT"] = options.RabbitMq.Port.ToString(CultureInfo.InvariantCulture),
            ["LORAQUEUE__RABBITMQ__HOSTS"] = options.RabbitMq.Hosts ?? "",
            ["LORAQUEUE__RABBITMQ__VIRTUALHOST"] = options.RabbitMq.VirtualHost,
            ["LORAQUEUE__RABBITMQ__USERNAME"] = options.RabbitMq.Username,
            ["LORAQUEUE__RABBITMQ__PASSWORD"] = options.RabbitMq.Password,
            ["MASSTRANSIT_USAGE_TELEMETRY"] = "false",
            ["DOTNET_gcServer"] = "0",
            ["DOTNET_GCgen0size"] = "0x1000000", // 16 MB gen0: fewer collections in 36 small processes
            // 36 processes on 2 cores: a thread-pool thread that spins before it sleeps takes the core from one that has work.
            ["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "0",
            // One line per job at Information would be the fleet's busiest work: jobs are counted from events instead.
            ["Logging__LogLevel__LoRAQueue.Worker.SubmitJobConsumer"] = "Warning",
            ["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning",
        };
        return env;
    }

    // ------------------------------------------------------------------ the fleet

    private async Task StartFleetAsync(RedisLoadState loadState, CancellationToken ct)
    {
        var gateways = new List<ClusterProcess>();
        for (int g = 1; g <= options.Gateways; g++)
        {
            int port = FreePort();
            var url = $"http://127.0.0.1:{port}";
            gateways.Add(StartProcess("gateway", $"g{g}", ["serve", "gateway", "--urls", url], new() { ["LORAQUEUE__POSTGRES__CONNECTIONSTRING"] = Pool(24) }, readyMarker: null));
            _gatewayUrls = [.. _gatewayUrls, url];
        }
        for (int s = 1; s <= options.Schedulers; s++) await StartSchedulerAsync(ct);
        foreach (var (url, process) in _gatewayUrls.Zip(gateways)) await WaitHealthyAsync(url, process, ct);
        Say($"{options.Gateways} gateways up ({string.Join(", ", _gatewayUrls)}), {options.Schedulers} schedulers started");
        await StartWorkersAsync(options.Workers, ct);
        var ids = _processes.Where(p => p.Role == "worker").Select(p => p.Id).ToHashSet();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var live = (await loadState.GetLiveWorkersAsync()).Select(h => h.Worker).ToHashSet();
            if (ids.IsSubsetOf(live)) break;
            if (clock.Elapsed > TimeSpan.FromMinutes(3))
                throw new TimeoutException($"workers without a heartbeat after 3 minutes: {string.Join(", ", ids.Except(live))}");
            await Task.Delay(1000, ct);
        }
        Say($"{ids.Count} workers heartbeat");
    }

    /// <summary>Until the gateway answers /healthz (2 minutes at most); throws with its log's tail when it exits or never does.</summary>
    private static async Task WaitHealthyAsync(string url, ClusterProcess process, CancellationToken ct)
    {
        using var health = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited) throw new InvalidOperationException($"gateway {process.Id} exited:{Environment.NewLine}{process.Tail}");
            try
            {
                using var r = await health.GetAsync(url + "/healthz", ct);
                if (r.IsSuccessStatusCode) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            if (deadline.Elapsed > TimeSpan.FromMinutes(2)) throw new TimeoutException($"gateway {process.Id} not healthy at {url} in 2 minutes:{Environment.NewLine}{process.Tail}");
            await Task.Delay(500, ct);
        }
    }

    private async Task StartWorkersAsync(int count, CancellationToken ct)
    {
        var started = new List<ClusterProcess>();
        for (int i = 0; i < count; i++)
        {
            int n = Interlocked.Increment(ref _workerSequence);
            string id = $"w{n:00}";
            started.Add(StartProcess("worker", id, ["serve", "worker", "--backend", "emulated", "--profile", options.Profile], new()
            {
                ["LORAQUEUE__WORKER__ID"] = id,
                ["LORAQUEUE__WORKER__KERNEL"] = options.Kernel,
                ["LORAQUEUE__WORKER__MAXSEQUENCES"] = _maxSequences.ToString(CultureInfo.InvariantCulture),
                ["LORAQUEUE__WORKER__MAXBATCHTOKENS"] = options.MaxBatchTokens.ToString(CultureInfo.InvariantCulture),
                ["LORAQUEUE__WORKER__KVCACHEMB"] = _kvCacheMb.ToString(CultureInfo.InvariantCulture),
                ["LORAQUEUE__WORKER__MAXRESIDENTADAPTERS"] = options.MaxAdapters.ToString(CultureInfo.InvariantCulture),
                ["LORAQUEUE__WORKER__PEERS"] = options.Peers,
                ["LORAQUEUE__POSTGRES__CONNECTIONSTRING"] = Pool(4),
            }, readyMarker: " ready on ", watch: "Emulation: modelled"));
            // A wave at a time: 32 JITs at once on two cores starve the calibrations of the ones already up.
            if (started.Count % options.StartWave == 0 || i == count - 1)
            {
                foreach (var p in started) await p.WaitReadyAsync(TimeSpan.FromMinutes(3));
                Say($"workers up: {_processes.Count(p => p.Role == "worker" && !p.HasExited)}");
                started.Clear();
            }
        }
    }

    /// <summary>The connection string with a smaller pool: 36 processes at Npgsql's default of 100 each would pass Postgres's 300
    /// connections (a job's recorder or lookup then waits for a pooled connection instead).</summary>
    private string Pool(int size) => new NpgsqlConnectionStringBuilder(options.PostgresConnectionString) { MaxPoolSize = size }.ConnectionString;

    private async Task<ClusterProcess> StartSchedulerAsync(CancellationToken ct)
    {
        int n = Interlocked.Increment(ref _schedulerSequence);
        var p = StartProcess("scheduler", $"s{n}", ["serve", "scheduler"], new()
        {
            ["LORAQUEUE__SCHEDULER__ID"] = $"s{n}",
            ["LORAQUEUE__POSTGRES__CONNECTIONSTRING"] = Pool(4),
            ["LORAQUEUE__SCHEDULER__POLICY"] = options.Policy,
            // The twin's: 60 s windows, a check every second, at most one placement per 10 s.
            ["LORAQUEUE__SCHEDULER__WINDOWSECONDS"] = "60",
            ["LORAQUEUE__SCHEDULER__CHECKSECONDS"] = "1",
            ["LORAQUEUE__SCHEDULER__MININTERVALSECONDS"] = "10",
            ["LORAQUEUE__SCHEDULER__DEMANDWINDOWS"] = DemandForecaster.DefaultWindows.ToString(CultureInfo.InvariantCulture),
        }, readyMarker: " trying for the lease");
        await p.WaitReadyAsync(TimeSpan.FromMinutes(2)).WaitAsync(ct);
        return p;
    }

    private ClusterProcess StartProcess(string role, string id, IReadOnlyList<string> arguments, Dictionary<string, string> extra, string? readyMarker, string? watch = null)
    {
        var env = new Dictionary<string, string>(_baseEnvironment);
        foreach (var (k, v) in extra) env[k] = v;
        var p = ClusterProcess.Start(role, id, options.Dotnet, [options.CliDll, .. arguments], env,
            Path.Combine(options.WorkDir, "logs", _runStamp, $"{id}.log"), readyMarker, watch);
        lock (_processes) _processes.Add(p);
        return p;
    }

    /// <summary>RabbitMQ nodes, Redis and Postgres from the services env file, watched for CPU and memory.</summary>
    private void AttachServers()
    {
        if (_servers.Count == 0) _servers.Add(ClusterProcess.Attach("bench", "bench (this process: replay, event tap, receiver)", Environment.ProcessId));
        if (options.ServicesEnv is null || !File.Exists(options.ServicesEnv)) return;
        string text = File.ReadAllText(options.ServicesEnv);
        string? Find(string pattern) => System.Text.RegularExpressions.Regex.Match(text, pattern, System.Text.RegularExpressions.RegexOptions.Multiline) is { Success: true } m ? m.Groups[1].Value : null;
        // Again after a fault restarted a server: a new pid is watched from then on (the old one's figures stay).
        void Add(string role, string id, int pid, bool tree = false)
        {
            lock (_processes)
            {
                if (_servers.Any(x => x.Pid == pid)) return;
                var p = ClusterProcess.Attach(role, _servers.Any(x => x.Id == id) ? id + " (restarted)" : id, pid, tree);
                if (_clock.IsRunning) p.StartWindow();
                _servers.Add(p);
            }
        }
        int k = 1;
        foreach (var pid in (Find(@"^RABBIT_BEAM_PIDS='([^']*)'") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (int.TryParse(pid, out int p)) Add("rabbitmq", $"rabbit{k}", p);
            k++;
        }
        if (int.TryParse(Find(@"\bREDIS_PID=(\d+)"), out int r)) Add("redis", "redis", r);
        if (int.TryParse(Find(@"\bPG_PID=(\d+)"), out int g)) Add("postgres", "postgres", g, tree: true);
    }

    private async Task SampleAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            ClusterProcess[] all;
            lock (_processes) all = [.. _processes, .. _servers];
            foreach (var p in all) p.Sample();
            try { await Task.Delay(TimeSpan.FromSeconds(2), ct); }
            catch (OperationCanceledException) { return; }
        }
    }

    private async Task StopFleetAsync()
    {
        ClusterProcess[] all;
        lock (_processes) all = [.. _processes];
        // Workers first (each logs its emulation line at a clean stop), then the schedulers and gateways.
        await Task.WhenAll(all.Where(p => p.Role == "worker").Select(p => p.StopAsync(TimeSpan.FromSeconds(40))));
        await Task.WhenAll(all.Where(p => p.Role != "worker").Select(p => p.StopAsync(TimeSpan.FromSeconds(20))));
    }

    private static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    // ------------------------------------------------------------------ traffic

    /// <summary>How often a replayed request is tried in all (its gateway, then the others in turn) before it counts as refused.</summary>
    private const int MaxAttempts = 10;

    /// <summary>
    /// One replayed request as a careful producer sends it: with an Idempotency-Key of its own, and again (the next gateway, after
    /// the gateway's Retry-After, at most 5 s) when the answer is 503 or there is none — a gateway killed, the broker not
    /// confirming in time. The key makes the retry safe: a job the first try did queue is answered with its id, not queued twice.
    /// </summary>
    private async Task PostAsync(HttpClient[] http, ReplayItem item, string prompt, string webhook, CancellationToken ct)
    {
        var dueAt = _replayStart + TimeSpan.FromSeconds(item.DueSeconds);
        var body = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
        {
            ["adapter"] = item.AdapterId, ["prompt"] = prompt, ["max_tokens"] = item.OutputTokens, ["webhook_url"] = webhook,
            ["metadata"] = new Dictionary<string, string> { ["replay_index"] = item.Index.ToString(CultureInfo.InvariantCulture), ["run"] = _runStamp },
        });
        string key = $"cluster-{_runStamp}-{item.Index}";
        int gateway = item.Gateway;
        for (int attempt = 1; ; attempt++)
        {
            TimeSpan wait;
            bool refused;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "v1/jobs") { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                request.Headers.Add("Idempotency-Key", key);
                using var response = await http[gateway].SendAsync(request, ct);
                if (response.StatusCode == HttpStatusCode.Accepted)
                {
                    var id = (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("id").GetGuid();
                    _dueAt[id] = dueAt;
                    _accepted.Add(new AcceptedJob(id, item.Index, PhaseAt(item.DueSeconds), dueAt, item.Rank));
                    if (attempt > 1) Interlocked.Increment(ref _retried);
                    if (response.Headers.Contains("Idempotent-Replayed")) Interlocked.Increment(ref _replayed);
                    return;
                }
                if (response.StatusCode != HttpStatusCode.ServiceUnavailable)
                {
                    if (Interlocked.Increment(ref _other) <= 5) Say($"  unexpected {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
                    return;
                }
                refused = true;
                wait = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1);
            }
            catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !ct.IsCancellationRequested))
            {
                refused = false;
                wait = TimeSpan.FromMilliseconds(500);
                if (attempt == 1 && Interlocked.Increment(ref _unansweredTries) <= 5) Say($"  no answer from gateway {gateway + 1} ({e.Message}); retrying");
            }
            if (attempt == MaxAttempts)
            {
                if (refused) Interlocked.Increment(ref _refused);
                else Interlocked.Increment(ref _other);
                return;
            }
            Interlocked.Increment(ref _retryAttempts);
            gateway = (gateway + 1) % http.Length;
            await Task.Delay(wait < TimeSpan.FromSeconds(5) ? wait : TimeSpan.FromSeconds(5), ct);
        }
    }

    /// <summary>
    /// Before the replay, three small jobs per worker through the gateways, half on the base model and half on the warm-up
    /// adapter, so the first replayed jobs do not pay the processes' JIT (gateway submit path, each worker's consume, adapter
    /// pull and load paths). Not counted in the report; waited for (at most a minute).
    /// </summary>
    private async Task WarmUpAsync(HttpClient[] http, EventTap tap, string webhook, CancellationToken ct)
    {
        int count = Math.Max(8, 3 * options.Workers);
        var ids = new ConcurrentBag<Guid>();
        var sends = new List<Task>();
        for (int i = 0; i < count; i++)
        {
            int n = i;
            sends.Add(Task.Run(async () =>
            {
                try
                {
                    using var response = await http[n % http.Length].PostAsJsonAsync("v1/jobs", new Dictionary<string, object?>
                    {
                        ["adapter"] = n % 2 == 0 ? null : WarmupAdapter, ["prompt"] = "warm up the fleet", ["max_tokens"] = 4, ["webhook_url"] = webhook,
                    }, ct);
                    if (response.StatusCode == HttpStatusCode.Accepted)
                        ids.Add((await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("id").GetGuid());
                    else if (Interlocked.Increment(ref _warmupRefused) <= 3)
                        Say($"  warm-up job answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct)}");
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    if (Interlocked.Increment(ref _warmupRefused) <= 3) Say($"  warm-up job: no answer ({e.Message})");
                }
            }, ct));
            await Task.Delay(20, ct);
        }
        await Task.WhenAll(sends);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromMinutes(1) && !ids.All(id => tap.Events.TryGetValue(id, out var q) && q.Any(e => e.Type is "JobCompleted" or "JobFailed")))
            await Task.Delay(500, ct);
        _warmupJobs = ids.Count;
        Say($"warm-up: {ids.Count(id => tap.Events.ContainsKey(id))}/{count} jobs done in {clock.Elapsed.TotalSeconds:0.#} s after sending");
        await Task.Delay(TimeSpan.FromSeconds(6), ct); // every worker logs its emulation totals (every 5 s): the replay's baseline
    }

    /// <summary>The phase a request sent now belongs to: before the first fault, or since fault i started (as run, not as planned:
    /// a fault waits for the one before it to finish).</summary>
    private string PhaseAt(double seconds) => _phase ?? (options.Faults.Count == 0 ? "all" : "before faults");

    private volatile string? _phase;

    private async Task ReportProgressAsync(EventTap tap, DrillReceiver receiver, RedisLoadState loadState, bool sending, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try { await Task.Delay(TimeSpan.FromSeconds(10), ct); }
            catch (OperationCanceledException) { return; }
            int terminal = tap.Events.Values.Count(q => q.Any(e => e.Type is "JobCompleted" or "JobFailed"));
            int live;
            try { live = (await loadState.GetLiveWorkersAsync()).Count; }
            catch (Exception e) when (e is RedisException or TimeoutException) { live = -1; }
            int replayed = _accepted.Count(a => a.Index >= 0); // the drill batch's jobs (index < 0) are not the trace's
            Say($"  t={_clock.Elapsed.TotalSeconds:0} s: {replayed + _refused + _other}/{_items.Count} sent, {_accepted.Count} accepted, {terminal} finished, " +
                $"{receiver.Receipts.Count} webhooks, {live} workers live");
        }
    }

    private async Task DrainAsync(EventTap tap, DrillReceiver receiver, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < options.DrainTimeout)
        {
            var ids = _accepted.Select(a => a.JobId).ToList();
            int terminal = ids.Count(id => tap.Events.TryGetValue(id, out var q) && q.Any(e => e.Type is "JobCompleted" or "JobFailed"));
            int hooks = ids.Count(id => receiver.Receipts.ContainsKey(("job.completed", id)) || receiver.Receipts.ContainsKey(("job.failed", id)));
            if (terminal == ids.Count && hooks >= terminal) return;
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
        Say($"drain timed out after {options.DrainTimeout.TotalSeconds:0} s");
    }

    // ------------------------------------------------------------------ results

    /// <summary>A read after a Postgres fault: the pool still holds connections the restart closed; the first use fails, so clear
    /// the pool and try again (a few times, a second apart).</summary>
    private async Task<T> RetryAsync<T>(NpgsqlDataSource database, Func<Task<T>> read)
    {
        for (int attempt = 1; ; attempt++)
        {
            try { return await read(); }
            catch (Exception e) when (e is NpgsqlException or IOException && attempt < 5)
            {
                Say($"  history read failed ({e.Message}); retrying");
                database.Clear();
                await Task.Delay(TimeSpan.FromSeconds(1));
            }
        }
    }

    private async Task<Dictionary<Guid, HistoryRow>> ReadHistoryAsync(NpgsqlDataSource database, CancellationToken ct)
    {
        var ids = _accepted.Select(a => a.JobId).ToArray();
        await using var connection = await database.OpenConnectionAsync(ct);
        var rows = await connection.QueryAsync<(Guid JobId, string Status, int Rows)>(new CommandDefinition(
            "SELECT job_id AS JobId, min(status) AS Status, count(*)::int AS Rows FROM jobs WHERE job_id = ANY(@Ids) GROUP BY job_id",
            new { Ids = ids }, cancellationToken: ct));
        return rows.ToDictionary(r => r.JobId, r => new HistoryRow(r.Status, r.Rows));
    }

    /// <summary>Replayed requests that have more than one job in the history (by the run and replay index in their metadata): a
    /// retry that queued the request again under a new id — the duplicate a job-by-job count cannot see.</summary>
    private async Task<int> CountRequestsWithTwoJobsAsync(NpgsqlDataSource database, CancellationToken ct)
    {
        await using var connection = await database.OpenConnectionAsync(ct);
        return await connection.ExecuteScalarAsync<int>(new CommandDefinition("""
            SELECT count(*)::int FROM (
              SELECT metadata->>'replay_index' FROM jobs WHERE metadata->>'run' = @Run GROUP BY 1 HAVING count(DISTINCT job_id) > 1) twice
            """, new { Run = _runStamp }, cancellationToken: ct));
    }

    private async Task<IReadOnlyList<PlacementEntry>> ReadPlacementsAsync(NpgsqlDataSource database, CancellationToken ct)
    {
        await using var connection = await database.OpenConnectionAsync(ct);
        var rows = await connection.QueryAsync<(long Epoch, string Policy, string Reason, DateTime CreatedAt, string Plan)>(new CommandDefinition(
            "SELECT epoch AS Epoch, policy AS Policy, reason AS Reason, created_at AS CreatedAt, plan::text AS Plan FROM placements WHERE created_at >= @Since ORDER BY epoch",
            new { Since = _replayStart.UtcDateTime.AddMinutes(-10) }, cancellationToken: ct));
        var list = new List<PlacementEntry>();
        foreach (var r in rows)
        {
            using var plan = JsonDocument.Parse(r.Plan);
            var perQueue = new SortedDictionary<string, int>(StringComparer.Ordinal);
            if (plan.RootElement.TryGetProperty("workers", out var workers))
                foreach (var w in workers.EnumerateArray())
                {
                    if (w.TryGetProperty("serves_base", out var b) && b.ValueKind == JsonValueKind.True) perQueue["base"] = perQueue.GetValueOrDefault("base") + 1;
                    if (w.TryGetProperty("rank_queues", out var qs))
                        foreach (var q in qs.EnumerateArray()) perQueue[q.GetInt32().ToString(CultureInfo.InvariantCulture)] = perQueue.GetValueOrDefault(q.GetInt32().ToString(CultureInfo.InvariantCulture)) + 1;
                }
            var created = new DateTimeOffset(DateTime.SpecifyKind(r.CreatedAt, DateTimeKind.Utc));
            list.Add(new PlacementEntry(Math.Round((created - _replayStart).TotalSeconds, 1), r.Epoch, r.Policy, r.Reason, perQueue));
        }
        return list;
    }

    private RunFigures LiveFigures(IReadOnlyList<AcceptedJob> accepted, Dictionary<Guid, IReadOnlyList<TappedEvent>> events)
    {
        var engineTtfts = new List<double>();
        var pickups = new List<double>();
        var jobs = accepted.Select<AcceptedJob, (int, double?, int, double?, bool)>(a =>
        {
            var list = events.GetValueOrDefault(a.JobId) ?? [];
            var end = list.FirstOrDefault(e => e.Type is "JobCompleted" or "JobFailed");
            if (end is null) return (a.Rank, null, 0, null, false);
            if (end.Type == "JobFailed") return (a.Rank, null, 0, (end.At - _replayStart)?.TotalSeconds, true);
            int tokens = end.OutputTokens ?? 0;
            double? ttft = end.SubmittedAt is { } submitted && end.TotalMs is { } total
                ? (submitted - a.DueAt).TotalSeconds + (total - (end.TpotMs ?? 0) * Math.Max(0, tokens - 1)) / 1e3
                : null;
            if (end.TtftMs is { } engine)
            {
                engineTtfts.Add(engine / 1e3);
                if (ttft is { } t) pickups.Add(t * 1e3 - engine);
            }
            return (a.Rank, ttft, tokens, (end.At - _replayStart)?.TotalSeconds, false);
        }).ToList();
        return Figures.Of(jobs, 0, options.SloTtft) with
        {
            EngineTtftP50S = Figures.Percentile(engineTtfts, 0.5), EngineTtftP95S = Figures.Percentile(engineTtfts, 0.95),
            PickupP50Ms = Figures.Percentile(pickups, 0.5) is { } p50 ? Math.Round(p50, 1) : null,
            PickupP95Ms = Figures.Percentile(pickups, 0.95) is { } p95 ? Math.Round(p95, 1) : null,
        };
    }

    private RunFigures TwinFigures(TwinResult twin) =>
        Figures.Of([.. twin.Jobs.Select(j => (j.Request.Rank, j.TtftSeconds, j.OutputTokens, j.FinishedSeconds, false))], 0, options.SloTtft);

    private TwinResult RunTwin(AcceleratorProfile profile, int maxSequences, long kvTokens, double pickupSeconds)
    {
        long loraBytesPerRank = profile.Model?.LoraBytesPerRank ?? 0;
        var requests = _items.Select(i => new TwinRequest(i.Index, i.DueSeconds, i.InputTokens, i.OutputTokens, i.AdapterId, i.Rank,
                                                          i.Rank * loraBytesPerRank)).ToList();
        var load = profile.AdapterLoad;
        var drift = new DriftSettings { Window = TimeSpan.FromSeconds(60) };
        drift = drift with { MinInterval = TimeSpan.FromSeconds(10) };
        var twinOptions = new TwinOptions
        {
            Workers = options.Workers, Policy = options.Policy, Cost = new LinearStepCostModel(profile),
            Kernel = options.Kernel == "padded" ? LoraKernelKind.Padded : LoraKernelKind.Segmented,
            KvBlocks = (int)Math.Max(1, kvTokens / 16), BlockSize = 16, MaxSequences = maxSequences, MaxBatchTokens = options.MaxBatchTokens,
            MaxResidentAdapters = options.MaxAdapters,
            AdapterLoadSeconds = (bytes, _) => load is null ? 0.03 : load.ConstantMs / 1e3 + bytes / Math.Max(1, load.BandwidthGbs * 1e9),
            Drift = drift, SloTtftSeconds = options.SloTtft, PickupSeconds = pickupSeconds,
        };
        return new TwinFleet(twinOptions).Run(requests);
    }

    private static AdapterFigures AdapterFiguresOf(Dictionary<Guid, IReadOnlyList<TappedEvent>> events, EventTap tap)
    {
        var jobs = events.Values.Select(l => l.FirstOrDefault(e => e.Type == "JobCompleted")?.AdapterSource).OfType<string>()
            .GroupBy(s => s).OrderBy(g => g.Key, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count());
        var pulls = tap.Pulls.GroupBy(p => p.Source).OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => new PullFigures(g.Count(), g.Sum(p => p.Bytes), Math.Round(g.Average(p => p.Ms), 1)));
        return new AdapterFigures(jobs, pulls);
    }

    private static (double Modelled, double Lost) ParseEmulation(string? line)
    {
        if (line is null) return (0, 0);
        var m = System.Text.RegularExpressions.Regex.Match(line, @"modelled ([0-9.]+) s of steps, lost ([0-9.]+) s");
        return m.Success ? (double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)) : (0, 0);
    }

    /// <summary>Each worker's emulation totals at its clean stop less those it logged just before the replay (a worker started
    /// later, or killed: from its start, or to its last 5-second line).</summary>
    private EmulationFigures? EmulationOf()
    {
        var parsed = _processes.Where(p => p.Role == "worker" && !p.Watched.IsEmpty).Select(p =>
        {
            var end = ParseEmulation(p.Watched.LastOrDefault());
            var start = _emulationBaseline.GetValueOrDefault(p.Id);
            return (Modelled: end.Modelled - start.Modelled, Lost: end.Lost - start.Lost);
        }).ToList();
        if (parsed.Count == 0) return null;
        double modelled = parsed.Sum(p => p.Modelled), lost = parsed.Sum(p => p.Lost);
        return new EmulationFigures(parsed.Count, Math.Round(modelled, 1), Math.Round(lost, 2), modelled > 0 ? Math.Round(lost / modelled, 4) : 0,
                                    Math.Round(parsed.Max(p => p.Lost), 2));
    }
}
