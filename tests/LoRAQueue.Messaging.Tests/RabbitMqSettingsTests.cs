using LoRAQueue.Hosting;
using LoRAQueue.Messaging;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace LoRAQueue.Messaging.Tests;

/// <summary>The node list and queue settings, read as every host reads them (bound, validated, one line per problem).</summary>
public sealed class RabbitMqSettingsTests
{
    private static RabbitMqSettings Read(params (string Key, string Value)[] settings) =>
        SectionOptions.Read<RabbitMqSettings>(new ConfigurationBuilder()
            .AddInMemoryCollection(settings.ToDictionary(s => "LoRAQueue:RabbitMq:" + s.Key, s => (string?)s.Value)).Build());

    [Fact]
    public void Hosts_lists_every_node_in_order_and_a_node_without_a_port_takes_Port()
    {
        var settings = Read(("Hosts", " 10.0.0.1:5673, rabbit-b ,10.0.0.3:5674"), ("Port", "5999"));

        Assert.Equal([new RabbitMqNode("10.0.0.1", 5673), new RabbitMqNode("rabbit-b", 5999), new RabbitMqNode("10.0.0.3", 5674)],
                     settings.Nodes);
        Assert.Equal(RabbitQueueType.Quorum, settings.QueueKind); // the default
        Assert.Equal(5, settings.DeliveryLimit);
    }

    [Fact]
    public void Without_Hosts_the_one_node_is_Host_and_Port()
    {
        var settings = Read(("Host", "broker"), ("Port", "5673"));
        Assert.Equal([new RabbitMqNode("broker", 5673)], settings.Nodes);
    }

    [Theory]
    [InlineData("127.0.0.1:5672,,127.0.0.1:5673", "LoRAQueue:RabbitMq:Hosts has an empty entry in '127.0.0.1:5672,,127.0.0.1:5673'")]
    [InlineData("127.0.0.1:99999", "LoRAQueue:RabbitMq:Hosts entry '127.0.0.1:99999' has no valid port (1 to 65535)")]
    [InlineData("127.0.0.1:abc", "LoRAQueue:RabbitMq:Hosts entry '127.0.0.1:abc' has no valid port (1 to 65535)")]
    [InlineData("amqp://127.0.0.1:5672", "LoRAQueue:RabbitMq:Hosts entry 'amqp://127.0.0.1:5672' is a URI; expected host:port entries")]
    [InlineData(":5672", "LoRAQueue:RabbitMq:Hosts entry ':5672' has no host name")]
    [InlineData("a:1:2", "LoRAQueue:RabbitMq:Hosts entry 'a:1:2' has more than one ':'")]
    [InlineData("10.0.0.1:5672,10.0.0.1:5672", "LoRAQueue:RabbitMq:Hosts names 10.0.0.1:5672 twice")]
    public void A_bad_node_list_fails_at_start_up_naming_the_key_and_the_entry(string hosts, string message)
    {
        var e = Assert.Throws<OptionsValidationException>(() => Read(("Hosts", hosts)));
        Assert.Contains(e.Failures, f => f.Contains(message, StringComparison.Ordinal));
        Assert.Throws<FormatException>(() => new RabbitMqSettings { Hosts = hosts }.Nodes);
    }

    [Theory]
    [InlineData("QueueType", "lazy", "LoRAQueue:RabbitMq:QueueType must be one of quorum, classic (got 'lazy')")]
    [InlineData("DeliveryLimit", "0", "LoRAQueue:RabbitMq:DeliveryLimit must be ≥ 1 (got 0)")]
    public void Bad_queue_settings_fail_at_start_up(string key, string value, string message)
    {
        var e = Assert.Throws<OptionsValidationException>(() => Read((key, value)));
        Assert.Contains(message, e.Failures);
    }

    [Fact]
    public void Quorum_topology_gives_every_durable_queue_the_same_type_limit_and_dead_lettering_and_classic_keeps_the_old_declarations()
    {
        var quorum = new QueueTopology(new RabbitMqSettings { DeliveryLimit = 3 });
        Assert.Equal("quorum", quorum.RankQueueArguments["x-queue-type"]);
        Assert.Equal(3, quorum.RankQueueArguments["x-delivery-limit"]);
        Assert.Equal("lora-dead-letter", quorum.RankQueueArguments["x-dead-letter-exchange"]);
        Assert.Equal("at-least-once", quorum.RankQueueArguments["x-dead-letter-strategy"]);
        Assert.Equal("reject-publish", quorum.RankQueueArguments["x-overflow"]);
        Assert.Equal(quorum.RankQueueArguments, quorum.EndpointQueueArguments);
        Assert.Equal(new Dictionary<string, object> { ["x-queue-type"] = "quorum" }, quorum.TerminalQueueArguments);

        var classic = new QueueTopology(new RabbitMqSettings { QueueType = "Classic" });
        Assert.Equal(new Dictionary<string, object> { ["x-dead-letter-exchange"] = "lora-dead-letter" }, classic.RankQueueArguments);
        Assert.Empty(classic.EndpointQueueArguments);
        Assert.Empty(classic.TerminalQueueArguments);
    }
}
