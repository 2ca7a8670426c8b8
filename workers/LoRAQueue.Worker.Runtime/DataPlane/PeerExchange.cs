using LoRAQueue.LoadState;
using LoRAQueue.Ucx;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoRAQueue.Worker.DataPlane;

/// <summary>Chooses the worker process's exchange: UCX with the Redis holder directory when both are there, else the store
/// only, saying why in the log.</summary>
public static class PeerExchange
{
    public static IAdapterExchange Create(IServiceProvider services, WorkerSettings settings, WorkerStats stats)
    {
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(PeerExchange));
        if (settings.Peers == "off") return new NoPeers("LoRAQueue:Worker:Peers is off");
        var directory = services.GetService<RedisLoadState>();
        if (directory is null) return Warn(logger, "LoRAQueue:Redis:Configuration is not set, so there is no holder directory");
        if (!UcxNode.IsAvailable(out var reason)) return Warn(logger, reason);
        string transports = Environment.GetEnvironmentVariable("UCX_TLS") ?? "";
        // UCX 1.13's shared-memory transports cannot detect a dead peer: without tcp, pulls rely on the timeout instead.
        bool peerErrors = transports.Length == 0 || transports.Split(',').Any(t => t.Trim() is "tcp" or "all" or "rc" or "ud" or "dc");
        UcxNode node;
        try
        {
            node = UcxNode.Create(new UcxOptions(PeerErrors: peerErrors, Log: message => logger.LogWarning("{Message}", message)));
        }
        catch (UcxException e)
        {
            return Warn(logger, $"UCX refused to start: {e.Message}");
        }
        if (node.EventDriven) logger.LogInformation("UCX progress is event-driven: idle, its thread blocks on the worker's event fd");
        var method = UcxAdapterExchange.Choose(settings.PullMethod, node.Transports);
        return new UcxAdapterExchange(node, directory, settings.Id, method, services.GetRequiredService<ILogger<UcxAdapterExchange>>(), owns: true);
    }

    private static NoPeers Warn(ILogger logger, string reason)
    {
        logger.LogWarning("Adapters come from the store only: {Reason}", reason);
        return new NoPeers(reason);
    }
}
