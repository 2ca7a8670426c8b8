using System.CommandLine;
using LoRAQueue.Cli.Cluster;
using LoRAQueue.Core.Costs;
using LoRAQueue.Core.Placement;
using LoRAQueue.Formats;
using LoRAQueue.Hosting;
using LoRAQueue.Messaging;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue bench cluster`: a fleet of separate processes replaying a trace, counted and set beside the twin (docs/cluster.md).</summary>
internal static class ClusterCommand
{
    /// <summary>The emulated workers' model: the small preset's shape and tokenizer with a 32k context, so a production trace's long
    /// prompts fit (no weights needed: docs/emulated-workers.md).</summary>
    public static void EnsureModel(string dir)
    {
        if (File.Exists(Path.Combine(dir, "config.json"))) return;
        SyntheticModel.Create(SyntheticModel.Presets["small"] with { MaxPositionEmbeddings = 32768 }, dir, seed: 1);
        foreach (var weights in Directory.EnumerateFiles(dir, "*.safetensors*")) File.Delete(weights);
    }

    public static Command Create()
    {
        var trace = new Option<string>("--trace") { Description = "Request trace to replay (any format of docs/workloads.md); its adapters are created and registered", Required = true };
        var workers = new Option<int>("--workers") { Description = "Emulated worker processes", DefaultValueFactory = _ => 32 };
        var gateways = new Option<int>("--gateways") { Description = "Gateway processes (requests round robin)", DefaultValueFactory = _ => 2 };
        var schedulers = new Option<int>("--schedulers") { Description = "Scheduler processes (one leads by its lease)", DefaultValueFactory = _ => 2 };
        var profile = new Option<string>("--profile") { Description = "Accelerator profile of the emulated workers and the twin", DefaultValueFactory = _ => "a100" };
        var kernel = new Option<string>("--kernel") { Description = "segmented | padded", DefaultValueFactory = _ => "segmented" };
        kernel.AcceptOnlyFromAmong("segmented", "padded");
        var policy = new Option<string>("--policy") { Description = $"Placement policy ({string.Join(", ", PlacementPolicies.Names)})", DefaultValueFactory = _ => "replicate-all" };
        var rateScale = new Option<double>("--rate-scale") { Description = "Replay at F times the trace's rate", DefaultValueFactory = _ => 1 };
        var duration = new Option<double?>("--duration") { Description = "Replay only the requests due in the first S seconds (after scaling)" };
        var maxRows = new Option<int?>("--max-rows") { Description = "Read only the trace's first N requests" };
        var slo = new Option<double>("--slo-ttft") { Description = "TTFT SLO in seconds", DefaultValueFactory = _ => 6 };
        var maxSequences = new Option<int?>("--max-sequences") { Description = "Sequences per engine step (LoRAQueue:Worker:MaxSequences; default the profile's max batch)" };
        var maxBatchTokens = new Option<int>("--max-batch-tokens") { Description = "Token budget of one step", DefaultValueFactory = _ => 2048 };
        var kvTokens = new Option<long?>("--kv-tokens") { Description = "KV tokens per worker (default the profile's); KvCacheMb is sized for the model to hold at least that many" };
        var maxAdapters = new Option<int>("--max-adapters") { Description = "Adapters resident per worker", DefaultValueFactory = _ => 64 };
        var peers = new Option<string>("--peers") { Description = "off: adapters from the store only; ucx: peers over UCX (a progress thread per worker)", DefaultValueFactory = _ => "off" };
        peers.AcceptOnlyFromAmong("off", "ucx");
        var model = new Option<string>("--model") { Description = "Model directory (config + tokenizer); created as the small preset with a 32k context if missing", DefaultValueFactory = _ => ".cache/cluster/model" };
        var store = new Option<string>("--adapter-store") { Description = "Adapter store; missing adapters of the trace are created in it", DefaultValueFactory = _ => ".cache/cluster/adapters" };
        var workDir = new Option<string>("--work-dir") { Description = "Where the processes' logs go", DefaultValueFactory = _ => ".cache/cluster" };
        var tenant = new Option<string>("--tenant") { Description = "Tenant of the jobs and adapters", DefaultValueFactory = _ => "cluster" };
        var apiKey = new Option<string?>("--api-key") { Description = "The tenant's API key (default $LORAQUEUE_API_KEY; none: the tenant is created)" };
        var servicesEnv = new Option<string?>("--services-env") { Description = "The servers' env file (scripts/services.sh; default $LORAQUEUE_SERVICES_ENV): their CPU and memory, and the faults" };
        var servicesScript = new Option<string>("--services-script") { Description = "scripts/services.sh of this checkout", DefaultValueFactory = _ => "scripts/services.sh" };
        var faults = new Option<string?>("--faults") { Description = "Fault plan: a JSON file with a list of {at_seconds, action, args} (docs/cluster.md)" };
        var drain = new Option<double>("--drain-timeout") { Description = "Seconds at most to wait for every job's terminal event and webhook after the replay", DefaultValueFactory = _ => 300 };
        var noTwin = new Option<bool>("--no-twin") { Description = "Skip the twin's prediction" };
        var pickup = new Option<double>("--twin-pickup-ms")
        {
            Description = "Give the twin a fixed due → engine time per job (a fitted constant: e.g. a calibration run's pickup p50); the report then shows the twin with and without it",
            DefaultValueFactory = _ => 0,
        };
        var wave = new Option<int>("--start-wave") { Description = "Workers started at a time", DefaultValueFactory = _ => 4 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (progress goes to stderr)" };
        var output = new Option<string?>("--out") { Description = "Also write the JSON report to this file" };
        var command = new Command("cluster",
            "Scale run: gateways, schedulers and emulated workers as separate processes, a trace replayed through the gateways, every job counted from " +
            "events, history and webhooks, beside the twin's prediction. Servers: $LORAQUEUE__RABBITMQ__*, $LORAQUEUE__POSTGRES__CONNECTIONSTRING, $LORAQUEUE__REDIS__CONFIGURATION")
        {
            trace, workers, gateways, schedulers, profile, kernel, policy, rateScale, duration, maxRows, slo, maxSequences, maxBatchTokens, kvTokens,
            maxAdapters, peers, model, store, workDir, tenant, apiKey, servicesEnv, servicesScript, faults, drain, noTwin, pickup, wave, json, output,
        };
        command.SetAction(async (parse, ct) =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            try
            {
                if (parse.GetValue(workers) < 1 || parse.GetValue(gateways) < 1 || parse.GetValue(schedulers) < 1 || parse.GetValue(wave) < 1)
                    throw new CliException("--workers, --gateways, --schedulers and --start-wave must be at least 1");
                if (!(parse.GetValue(rateScale) > 0)) throw new CliException("--rate-scale must be positive");
                if (!(parse.GetValue(slo) > 0)) throw new CliException("--slo-ttft must be positive");
                if (!PlacementPolicies.Names.Contains(parse.GetValue(policy)!)) throw new CliException($"unknown policy '{parse.GetValue(policy)}' (known: {string.Join(", ", PlacementPolicies.Names)})");
                AcceleratorProfiles.Resolve(parse.GetValue(profile)!);
                var plan = parse.GetValue(faults) is { } planPath ? FaultPlan.Parse(File.ReadAllText(planPath), Path.GetFileName(planPath)) : [];
                var configuration = new ConfigurationBuilder().AddEnvironmentVariables().Build();
                string redis = InfrastructureSettings.RedisConfiguration(configuration) ?? throw new CliException("set LORAQUEUE__REDIS__CONFIGURATION: the workers and schedulers need Redis");
                string modelDir = Path.GetFullPath(parse.GetValue(model)!);
                EnsureModel(modelDir);
                string storeDir = Path.GetFullPath(parse.GetValue(store)!);
                Directory.CreateDirectory(storeDir);
                string? envFile = parse.GetValue(servicesEnv) ?? Environment.GetEnvironmentVariable("LORAQUEUE_SERVICES_ENV");
                if (plan.Any(s => s.Action is "kill-rabbitmq-leader" or "postgres-down") && envFile is null)
                    throw new CliException("the fault plan stops servers: give --services-env or set LORAQUEUE_SERVICES_ENV");
                var options = new ClusterOptions
                {
                    TracePath = parse.GetValue(trace)!, Workers = parse.GetValue(workers), Gateways = parse.GetValue(gateways), Schedulers = parse.GetValue(schedulers),
                    Profile = parse.GetValue(profile)!, Kernel = parse.GetValue(kernel)!, Policy = parse.GetValue(policy)!, RateScale = parse.GetValue(rateScale),
                    Duration = parse.GetValue(duration), MaxRows = parse.GetValue(maxRows), SloTtft = parse.GetValue(slo), MaxSequences = parse.GetValue(maxSequences),
                    MaxBatchTokens = parse.GetValue(maxBatchTokens), KvTokens = parse.GetValue(kvTokens), MaxAdapters = parse.GetValue(maxAdapters),
                    Peers = parse.GetValue(peers)!, ModelPath = modelDir, AdapterStorePath = storeDir, WorkDir = Path.GetFullPath(parse.GetValue(workDir)!),
                    Tenant = parse.GetValue(tenant)!, ApiKey = parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("LORAQUEUE_API_KEY"),
                    RabbitMq = SectionOptions.Read<RabbitMqSettings>(configuration), PostgresConnectionString = InfrastructureSettings.PostgresConnectionString(configuration),
                    RedisConfiguration = redis, ServicesScript = parse.GetValue(servicesScript)!, ServicesEnv = envFile is null ? null : Path.GetFullPath(envFile),
                    Faults = plan, DrainTimeout = TimeSpan.FromSeconds(parse.GetValue(drain)), Twin = !parse.GetValue(noTwin), TwinPickupMs = Math.Max(0, parse.GetValue(pickup)), StartWave = parse.GetValue(wave),
                    CliDll = typeof(ClusterCommand).Assembly.Location,
                    Dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host
                        : Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet" ? Environment.ProcessPath! : "dotnet",
                };
                var report = await new ClusterBench(options, error).RunAsync(ct);
                if (parse.GetValue(output) is { } file)
                    await File.WriteAllTextAsync(file, System.Text.Json.JsonSerializer.Serialize(report, CliOutput.Json), ct);
                if (parse.GetValue(json)) CliOutput.WriteJson(stdout, report);
                else ClusterView.Write(CliOutput.ConsoleFor(stdout), report);
                return report.Held ? 0 : 3;
            }
            catch (Exception e) when (e is CliException or FaultPlanException or OptionsValidationException or InvalidOperationException or IOException
                                           or FormatException or ProfileValidationException or TimeoutException or ArgumentException
                                           or LoRAQueue.History.Tenants.TenantException or LoRAQueue.History.AdapterRegistrationException or Npgsql.NpgsqlException)
            {
                return CliOutput.Fail(error, e.Message);
            }
        });
        return command;
    }
}
