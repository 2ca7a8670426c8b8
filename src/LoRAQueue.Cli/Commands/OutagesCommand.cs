using System.CommandLine;
using LoRAQueue.Cli.Reliability;
using LoRAQueue.Hosting;
using LoRAQueue.Messaging;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue bench outages`: the fault drill of docs/reliability.md (scripts/reliability.sh sets up a stack and runs it).</summary>
internal static class OutagesCommand
{
    public static Command Create()
    {
        var gateway = new Option<string>("--gateway") { Description = "The gateway's base URL", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var apiKey = new Option<string?>("--api-key") { Description = "The drill tenant's API key (default $LORAQUEUE_API_KEY); raw jobs use tenant 'drill'" };
        var servicesEnv = new Option<string?>("--services-env") { Description = "The env file of the servers to stop and start (default $LORAQUEUE_SERVICES_ENV)" };
        var script = new Option<string>("--services-script") { Description = "scripts/services.sh of this checkout", DefaultValueFactory = _ => "scripts/services.sh" };
        var rate = new Option<double>("--rate") { Description = "Jobs per second, four in five over HTTP, one raw", DefaultValueFactory = _ => 8 };
        var steady = new Option<double>("--steady") { Description = "Seconds of each phase without a fault", DefaultValueFactory = _ => 20 };
        var postgres = new Option<double>("--postgres-outage") { Description = "Seconds Postgres is down", DefaultValueFactory = _ => 30 };
        var rabbit = new Option<double>("--rabbitmq-outage") { Description = "Seconds RabbitMQ is down", DefaultValueFactory = _ => 20 };
        var drain = new Option<double>("--drain") { Description = "Seconds at most to wait for jobs and webhooks afterwards", DefaultValueFactory = _ => 240 };
        var output = new Option<FileInfo?>("--out") { Description = "Also write the table (markdown) to this file" };
        var command = new Command("outages",
            "Fault drill: load over HTTP and raw AMQP while Postgres, then RabbitMQ, are stopped and started; then checks every job's " +
            "history row against its last event and every webhook for exactly one delivery. Broker and database: $LORAQUEUE__RABBITMQ__*, " +
            "$LORAQUEUE__POSTGRES__CONNECTIONSTRING")
        { gateway, apiKey, servicesEnv, script, rate, steady, postgres, rabbit, drain, output };
        command.SetAction(async (parse, ct) =>
        {
            var error = parse.InvocationConfiguration.Error;
            try
            {
                var configuration = new ConfigurationBuilder().AddEnvironmentVariables().Build();
                var options = new DrillOptions(new Uri(parse.GetValue(gateway)!.TrimEnd('/') + "/"),
                    parse.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("LORAQUEUE_API_KEY") ?? throw new CliException("give --api-key or set LORAQUEUE_API_KEY"),
                    SectionOptions.Read<RabbitMqSettings>(configuration), InfrastructureSettings.PostgresConnectionString(configuration),
                    parse.GetValue(script)!,
                    parse.GetValue(servicesEnv) ?? Environment.GetEnvironmentVariable("LORAQUEUE_SERVICES_ENV")
                        ?? throw new CliException("give --services-env or set LORAQUEUE_SERVICES_ENV: the drill stops and starts those servers"),
                    parse.GetValue(rate), TimeSpan.FromSeconds(parse.GetValue(steady)), TimeSpan.FromSeconds(parse.GetValue(postgres)),
                    TimeSpan.FromSeconds(parse.GetValue(rabbit)), TimeSpan.FromSeconds(parse.GetValue(drain)));
                var results = await new OutageDrill(options, error).RunAsync(ct);
                string table = OutageDrill.Table(results);
                parse.InvocationConfiguration.Output.Write(table);
                if (parse.GetValue(output) is { } file) await File.WriteAllTextAsync(file.FullName, table, ct);
                bool held = results.All(r => r.RowsAsLastEvent == r.Accepted && r.RowsExact == r.Accepted && r.DeliveredOnce == r.WebhooksExpected
                                             && r.Terminal == r.Accepted && r.OtherAnswers == 0);
                return held ? 0 : 3;
            }
            catch (Exception e) when (e is CliException or OptionsValidationException or InvalidOperationException)
            {
                return CliOutput.Fail(error, e.Message);
            }
        });
        return command;
    }
}
