using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace LoRAQueue.Webhooks;

public static class WebhookServiceCollectionExtensions
{
    /// <summary>
    /// <see cref="WebhookOptions"/> (section LoRAQueue:Webhooks, read now so bad settings fail at start-up),
    /// <see cref="WebhookUrlValidator"/>, <see cref="WebhookDeliveryStore"/>, the "webhooks" HTTP client (IHttpClientFactory), the dispatcher and the batch-completion
    /// watcher (hosted services). Needs an <see cref="NpgsqlDataSource"/> registered by the host, and the database
    /// migrated (migrations/0005_webhooks.sql).
    /// </summary>
    public static IServiceCollection AddWebhookDelivery(this IServiceCollection services, IConfiguration configuration)
    {
        var options = WebhookOptions.From(configuration);
        services.AddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new WebhookUrlValidator(sp.GetRequiredService<WebhookOptions>()));
        services.AddSingleton(sp => new WebhookDeliveryStore(sp.GetRequiredService<NpgsqlDataSource>()));
        services.AddSingleton(sp => new DeliveryQueue(sp.GetRequiredService<NpgsqlDataSource>()));
        // The factory pools the handler; its connections last 2 minutes (PooledConnectionLifetime), so DNS changes are seen
        // without rotating handlers. No request logging: URLs may carry the receiver's tokens.
        // The second client resends, on a new connection, a request whose pooled connection the receiver had closed.
        services.AddHttpClient(WebhookSender.ClientName, WebhookSender.ConfigureClient)
            .ConfigurePrimaryHttpMessageHandler(sp => WebhookSender.CreateHandler(sp.GetRequiredService<WebhookOptions>()))
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .RemoveAllLoggers();
        services.AddHttpClient(WebhookSender.NewConnectionClientName, WebhookSender.ConfigureClient)
            .ConfigurePrimaryHttpMessageHandler(sp => WebhookSender.CreateNewConnectionHandler(sp.GetRequiredService<WebhookOptions>()))
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .RemoveAllLoggers();
        services.AddSingleton<WebhookSender>();
        services.AddSingleton<IHostedService, WebhookDispatcher>();
        services.AddSingleton<IHostedService, BatchCompletionWatcher>();
        return services;
    }

    /// <summary>The consumer of JobCompleted / JobFailed on receive endpoint <c>webhook-deliveries</c>: enqueues a delivery
    /// when the event names a WebhookUrl. The host calls ConfigureEndpoints and registers an NpgsqlDataSource.</summary>
    public static IBusRegistrationConfigurator AddWebhookEnqueuer(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<WebhookEnqueuer, WebhookEnqueuerDefinition>();
        return bus;
    }
}
