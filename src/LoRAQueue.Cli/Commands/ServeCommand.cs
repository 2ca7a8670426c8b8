using System.CommandLine;
using LoRAQueue.Gateway;
using LoRAQueue.Hosting;
using LoRAQueue.Hosting.Tracing;
using LoRAQueue.Scheduler;
using LoRAQueue.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace LoRAQueue.Cli.Commands;

/// <summary>
/// `loraqueue serve gateway|scheduler|worker|all`: runs the chosen services in this process against the real servers,
/// each as its own host (own bus, own container) exactly as its executable runs it. Configuration as for those:
/// appsettings.json, LORAQUEUE__SECTION__KEY, or --set LoRAQueue:Section:Key=value (and --urls for the gateway).
/// </summary>
internal static class ServeCommand
{
    private static readonly string[] Roles = ["gateway", "scheduler", "worker"];

    public static Command Create()
    {
        var roles = new Argument<string[]>("role")
        {
            Description = "gateway, scheduler, worker, or all (the three); several may be given",
            Arity = ArgumentArity.OneOrMore,
        };
        roles.AcceptOnlyFromAmong([.. Roles, "all"]);
        var urls = new Option<string?>("--urls") { Description = "Where the gateway listens (default http://localhost:5000), e.g. http://0.0.0.0:8080" };
        var settings = new Option<string[]>("--set")
        {
            Description = "A setting for every host, KEY=VALUE with ':' between sections (LoRAQueue:Worker:Id=w1); repeatable. " +
                          "Settings also come from appsettings.json and LORAQUEUE__SECTION__KEY variables",
        };
        var backend = new Option<string?>("--backend")
        {
            Description = "The worker's compute backend: cpu (the forward pass over the weights, default) or emulated (the same engine, " +
                          "each step a wait of the --profile's price for it; docs/emulated-workers.md). Sets LoRAQueue:Worker:Backend",
        };
        backend.AcceptOnlyFromAmong([.. EngineRuntime.Backends]);
        var profile = new Option<string?>("--profile")
        {
            Description = "The emulated worker's accelerator profile: a built-in name (a100) or a profile JSON file. Sets LoRAQueue:Worker:Profile",
        };
        var command = new Command("serve", "Run the gateway, the scheduler, a worker, or all of them, against RabbitMQ, Redis and Postgres")
        {
            roles, urls, settings, backend, profile,
        };
        command.SetAction((parse, ct) =>
        {
            var chosen = parse.GetValue(roles)!.SelectMany(r => r == "all" ? Roles : [r]).Distinct().ToList();
            var hostArgs = new List<string>();
            if (parse.GetValue(urls) is { } u) hostArgs.AddRange(["--urls", u]);
            var workerFlags = new[] { ("--backend", parse.GetValue(backend), "Backend"), ("--profile", parse.GetValue(profile), "Profile") }
                .Where(f => f.Item2 is not null).ToList();
            if (workerFlags.Count > 0 && !chosen.Contains("worker"))
                return Task.FromResult(CliOutput.Fail(parse.InvocationConfiguration.Error,
                    $"{string.Join(" and ", workerFlags.Select(f => f.Item1))} {(workerFlags.Count == 1 ? "configures" : "configure")} the worker; add the worker role (serve worker …)"));
            foreach (var (_, value, key) in workerFlags) hostArgs.Add($"--{WorkerOptions.Section}:{key}={value}");
            foreach (var setting in parse.GetValue(settings) ?? [])
            {
                if (!setting.Contains('=', StringComparison.Ordinal))
                    return Task.FromResult(CliOutput.Fail(parse.InvocationConfiguration.Error, $"--set {setting}: expected KEY=VALUE"));
                hostArgs.Add("--" + setting);
            }
            return RunAsync(chosen, [.. hostArgs], ct);
        });
        return command;
    }

    /// <summary>Exit codes: 0 all stopped cleanly, 1 one failed while running, 2 one could not start.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> roles, string[] hostArgs, CancellationToken ct)
    {
        using var startupLoggers = HostConsoleLogging.CreateStartupFactory();
        var logger = startupLoggers.CreateLogger("LoRAQueue.Serve");
        var hosts = new List<(string Role, IHost Host)>();
        IDisposable? tracing = null;
        try
        {
            // Several hosts in one process share one tracer provider (each host's own would export every span again).
            if (roles.Count > 1 && !(StartSharedTracing(roles, hostArgs, logger, out tracing))) return 2;
            foreach (var role in roles)
            {
                IHost? host = HostRunner.TryBuild(role, logger, l => role switch
                {
                    "gateway" => GatewayApplication.TryBuild(hostArgs, l),
                    "scheduler" => SchedulerHost.Build(hostArgs, l),
                    "worker" => WorkerHost.Build(hostArgs, l),
                    _ => throw new ArgumentOutOfRangeException(nameof(roles), role, "unknown role"),
                });
                if (host is null) return 2;
                hosts.Add((role, host));
            }
            return await RunTogetherAsync(hosts, logger, ct);
        }
        finally
        {
            foreach (var (_, host) in hosts) host.Dispose();
            tracing?.Dispose(); // after the hosts: flushes their last spans
        }
    }

    /// <summary>Service name loraqueue-serve (resource attribute loraqueue.roles lists the hosts); configured as every host
    /// is (LoRAQueue:Tracing:*, OTEL_EXPORTER_OTLP_*), from the environment and --set.</summary>
    private static bool StartSharedTracing(IReadOnlyList<string> roles, string[] hostArgs, ILogger logger, out IDisposable? tracing)
    {
        tracing = null;
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(hostArgs).Build();
        try
        {
            tracing = LoRAQueueTracing.StartProcessProvider(configuration, "loraqueue-serve", b =>
            {
                b.ConfigureResource(r => r.AddAttributes([new("loraqueue.roles", string.Join(",", roles))]));
                if (roles.Contains("gateway")) GatewayApplication.AddGatewayInstrumentation(b);
            });
            return true;
        }
        catch (FormatException e)
        {
            logger.LogCritical("Cannot start: {Message}", e.Message);
            return false;
        }
    }

    /// <summary>Starts every host, then waits until one stops (Ctrl+C, SIGTERM, or a failure) and stops the rest.</summary>
    private static async Task<int> RunTogetherAsync(List<(string Role, IHost Host)> hosts, ILogger logger, CancellationToken ct)
    {
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var runs = hosts.Select(h => HostRunner.RunBuiltAsync(h.Role, h.Host, logger, stopping.Token)).ToList();
        await Task.WhenAny(runs);
        await stopping.CancelAsync();
        var results = await Task.WhenAll(runs);
        logger.LogInformation("Stopped: {Roles}", string.Join(", ", hosts.Select(h => h.Role)));
        return results.Max();
    }
}
