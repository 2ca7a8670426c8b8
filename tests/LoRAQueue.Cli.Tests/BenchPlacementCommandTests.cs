namespace LoRAQueue.Cli.Tests;

/// <summary>`loraqueue bench placement`'s own refusals (the benchmark itself is tested in LoRAQueue.Bench.Tests).</summary>
public sealed class BenchPlacementCommandTests : IDisposable
{
    private readonly TempDirectory _cache = new();

    public void Dispose() => _cache.Dispose();

    [Theory]
    [InlineData("--workers", "0", "--workers must be 1 to 8")]
    [InlineData("--rate", "-3", "--rate must be a positive number")]
    [InlineData("--duration", "0", "--duration must be a positive number")]
    public async Task Bad_options_get_one_line_and_exit_1(string option, string value, string message)
    {
        var result = await CliRun.InvokeAsync("bench", "placement", option, value, "--cache", _cache.Path);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains(message, result.Error);
        Assert.Equal("", result.Output);
    }

    [Fact]
    public async Task A_directory_that_is_not_a_model_is_refused_with_its_name()
    {
        var missing = Path.Combine(_cache.Path, "no-such-model");
        var result = await CliRun.InvokeAsync("bench", "placement", "--model", missing, "--cache", _cache.Path, "--duration", "1");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("is not a model directory", result.Error);
    }
}
