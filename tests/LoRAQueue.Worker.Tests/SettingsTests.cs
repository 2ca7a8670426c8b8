using LoRAQueue.Core;
using LoRAQueue.Core.Costs;
using LoRAQueue.Formats;
using LoRAQueue.Hosting;
using LoRAQueue.Testing;
using Microsoft.Extensions.Configuration;

namespace LoRAQueue.Worker.Tests;

/// <summary>Worker settings come through the options pattern: a bad one stops the host (exit 2) with one line naming the key.</summary>
public sealed class SettingsTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("loraqueue-worker-settings-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string ModelPath
    {
        get
        {
            string path = Path.Combine(_dir.FullName, "model");
            if (!Directory.Exists(path)) SyntheticModel.Create("tiny", path, seed: 2);
            return path;
        }
    }

    /// <summary>Runs the worker as its executable does, with the servers of the environment switched off (in-memory history,
    /// no Redis) so that only the settings decide.</summary>
    private async Task<(int Exit, CapturingLogger Log)> RunWorker(params string[] settings)
    {
        string[] args = [$"--LoRAQueue:Model:Path={ModelPath}", $"--LoRAQueue:AdapterStore:Path={_dir.FullName}",
                         "--LoRAQueue:Postgres:ConnectionString=", "--LoRAQueue:Redis:Configuration=", .. settings.Select(s => "--" + s)];
        var log = new CapturingLogger();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60)); // a host that did start stops here, exit 0
        int exit = await HostRunner.RunAsync("LoRAQueue.Worker", log, l => WorkerHost.Build(args, l), timeout.Token);
        return (exit, log);
    }

    [Theory]
    [InlineData("LoRAQueue:Worker:MaxSequences=0", "LoRAQueue:Worker:MaxSequences must be ≥ 1 (got 0)")]
    [InlineData("LoRAQueue:Worker:MaxSequences=abc", "LoRAQueue:Worker:MaxSequences must be a whole number (got 'abc')")]
    [InlineData("LoRAQueue:Worker:Kernel=fast", "LoRAQueue:Worker:Kernel must be one of segmented, padded, loop (got 'fast')")]
    [InlineData("LoRAQueue:Worker:DrainTimeoutSeconds=-1", "LoRAQueue:Worker:DrainTimeoutSeconds must be a number of seconds from 0 to 86400 (got -1)")]
    [InlineData("LoRAQueue:Worker:RankQueues=lora-rank-x", "LoRAQueue:Worker:RankQueues: 'lora-rank-x' is not a rank queue name")]
    [InlineData("LoRAQueue:Recorder:Enabled=sometimes", "LoRAQueue:Recorder:Enabled must be true or false (got 'sometimes')")]
    [InlineData("LoRAQueue:Model:Path=", "LoRAQueue:Model:Path (env LORAQUEUE__MODEL__PATH) must name the base model directory")]
    // Read at start-up (ValidateOnStart), not while building: the broker settings of the bus.
    [InlineData("LoRAQueue:RabbitMq:PrefetchCount=0", "LoRAQueue:RabbitMq:PrefetchCount must be ≥ 1 (got 0)")]
    [InlineData("LoRAQueue:RabbitMq:Hosts=127.0.0.1:5672,127.0.0.1:99999", "LoRAQueue:RabbitMq:Hosts entry '127.0.0.1:99999' has no valid port (1 to 65535)")]
    [InlineData("LoRAQueue:RabbitMq:QueueType=mirrored", "LoRAQueue:RabbitMq:QueueType must be one of quorum, classic (got 'mirrored')")]
    public async Task A_bad_setting_stops_the_worker_with_exit_2_and_one_line_naming_the_key(string setting, string message)
    {
        var (exit, log) = await RunWorker("LoRAQueue:Transport=rabbitmq", setting);

        Assert.Equal(2, exit);
        var critical = Assert.Single(log.Lines, l => l.StartsWith("Critical", StringComparison.Ordinal));
        Assert.Contains(message, critical);
        Assert.DoesNotContain(" | ", critical); // the message alone, no exception and stack trace
    }

    [Theory]
    [InlineData("LoRAQueue:Worker:Backend=gpu", "LoRAQueue:Worker:Backend must be one of cpu, emulated (got 'gpu')")]
    [InlineData("LoRAQueue:Worker:Backend=emulated",
                "LoRAQueue:Worker:Profile (env LORAQUEUE__WORKER__PROFILE) must name the accelerator profile that prices the emulated backend's steps: a built-in one (a100, a100-40gb) or a profile JSON file")]
    [InlineData("LoRAQueue:Worker:Backend=emulated;LoRAQueue:Worker:Profile=h100", "LoRAQueue:Worker:Profile: no profile file 'h100' (built in: a100, a100-40gb)")]
    [InlineData("LoRAQueue:Worker:Backend=emulated;LoRAQueue:Worker:Profile=/nonexistent/p.json", "LoRAQueue:Worker:Profile: no profile file '/nonexistent/p.json' (built in: a100, a100-40gb)")]
    [InlineData("LoRAQueue:Worker:Backend=emulated;LoRAQueue:Worker:Profile=a100;LoRAQueue:Worker:Kernel=loop",
                "LoRAQueue:Worker:Kernel 'loop' has no price in the cost model: the emulated backend takes segmented or padded")]
    [InlineData("LoRAQueue:Worker:Profile=a100", "LoRAQueue:Worker:Profile is set ('a100') but LoRAQueue:Worker:Backend is cpu: a profile prices the steps of the emulated backend only")]
    public async Task A_bad_backend_or_profile_stops_the_worker_with_exit_2_and_one_line_naming_the_key(string settings, string message)
    {
        var (exit, log) = await RunWorker(["LoRAQueue:Transport=inmemory", .. settings.Split(';')]);

        Assert.Equal(2, exit);
        var critical = Assert.Single(log.Lines, l => l.StartsWith("Critical", StringComparison.Ordinal));
        Assert.Contains(message, critical);
        Assert.DoesNotContain(" | ", critical);
    }

    [Fact]
    public async Task A_malformed_profile_file_is_named_with_its_bad_field()
    {
        string file = Path.Combine(_dir.FullName, "broken.json");
        await File.WriteAllTextAsync(file, """{ "name": "broken", "form": "linear", "coefficients": { "overhead_ms": -1 } }""");
        var (exit, log) = await RunWorker("LoRAQueue:Transport=inmemory", "LoRAQueue:Worker:Backend=emulated", $"LoRAQueue:Worker:Profile={file}");

        Assert.Equal(2, exit);
        var critical = Assert.Single(log.Lines, l => l.StartsWith("Critical", StringComparison.Ordinal));
        Assert.Contains($"LoRAQueue:Worker:Profile: '{file}' is not a valid accelerator profile: model: missing", critical);

        await File.WriteAllTextAsync(file, "{ not json");
        (exit, log) = await RunWorker("LoRAQueue:Transport=inmemory", "LoRAQueue:Worker:Backend=emulated", $"LoRAQueue:Worker:Profile={file}");
        Assert.Equal(2, exit);
        Assert.Contains($"'{file}' is not a valid accelerator profile", Assert.Single(log.Lines, l => l.StartsWith("Critical", StringComparison.Ordinal)));
    }

    [Fact]
    public void The_emulated_backend_keys_and_the_short_switches_map_onto_the_settings()
    {
        string file = Path.Combine(_dir.FullName, "mine.json");
        AcceleratorProfiles.Save(AcceleratorProfiles.Builtin("a100") with { Name = "mine" }, file);
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["LoRAQueue:Model:Path"] = "m", ["LoRAQueue:AdapterStore:Path"] = "s" })
            .AddCommandLine(["--backend", " Emulated ", "--profile", file],
                            new Dictionary<string, string> { ["--backend"] = "LoRAQueue:Worker:Backend", ["--profile"] = "LoRAQueue:Worker:Profile" })
            .Build();

        var settings = WorkerSettings.From(configuration, RankBuckets.Default);

        Assert.Equal("emulated", settings.Backend);
        Assert.Equal("mine", settings.Profile!.Name);
        var cpu = WorkerSettings.From(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            { ["LoRAQueue:Model:Path"] = "m", ["LoRAQueue:AdapterStore:Path"] = "s" }).Build(), RankBuckets.Default);
        Assert.Equal("cpu", cpu.Backend);
        Assert.Null(cpu.Profile);
    }

    [Fact]
    public void The_worker_host_builds_on_the_emulated_backend_from_its_short_switches_without_weights()
    {
        string model = ModelPath;
        foreach (var weights in Directory.EnumerateFiles(model, "*.safetensors*")) File.Delete(weights);
        var log = new CapturingLogger();
        using var host = WorkerHost.Build([$"--LoRAQueue:Model:Path={model}", $"--LoRAQueue:AdapterStore:Path={_dir.FullName}",
                                           "--LoRAQueue:Postgres:ConnectionString=", "--LoRAQueue:Redis:Configuration=",
                                           "--LoRAQueue:Transport=inmemory", "--backend", "emulated", "--profile", "a100"], log);

        Assert.NotNull(host);
        Assert.Contains(log.Lines, l => l.Contains("emulated backend: steps priced by profile 'a100' (segmented kernel)", StringComparison.Ordinal));
    }

    [Fact]
    public void Keys_map_onto_the_settings_the_worker_reads()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["LoRAQueue:Model:Path"] = "m", ["LoRAQueue:AdapterStore:Path"] = "s", ["LoRAQueue:Worker:Id"] = "w7",
            ["LoRAQueue:Worker:RankQueues"] = "base,lora-rank-32", ["LoRAQueue:Worker:MaxTokens"] = "99",
            ["LoRAQueue:Worker:DrainTimeoutSeconds"] = "2.5", ["LoRAQueue:Worker:LoadReportSeconds"] = "0.5",
            ["LoRAQueue:Worker:Kernel"] = "Padded", ["LoRAQueue:Recorder:Enabled"] = "false",
        }).Build();

        var settings = WorkerSettings.From(configuration, RankBuckets.Default);

        Assert.Equal("w7", settings.Id);
        Assert.Equal(Path.GetFullPath("m"), settings.ModelPath);
        Assert.Equal([null, 32], settings.RankQueues);
        Assert.Equal(99, settings.MaxTokensLimit);
        Assert.Equal(16, settings.MaxSequences);
        Assert.Equal(TimeSpan.FromSeconds(2.5), settings.DrainTimeout);
        Assert.Equal(TimeSpan.FromSeconds(0.5), settings.LoadReportInterval);
        Assert.Equal("padded", settings.Kernel);
        Assert.False(settings.RecorderEnabled);
    }
}
