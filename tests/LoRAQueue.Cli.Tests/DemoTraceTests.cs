namespace LoRAQueue.Cli.Tests;

/// <summary>`demo --trace` and `bench placement --trace` read every trace format (the readers themselves are tested in
/// LoRAQueue.Workloads.Tests); a broken trace is reported in one line, before any model or adapter is generated.</summary>
public sealed class DemoTraceTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    [Fact]
    public async Task The_demo_command_reports_a_broken_trace_in_one_line_and_exits_1()
    {
        using var cache = new TempDirectory();
        var path = _dir.File("broken.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\nnot-a-time,1,1\n");

        var result = await CliRun.InvokeAsync("demo", "--trace", path, "--cache", cache.Path, "--jobs", "5");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("error: broken.csv:3: TIMESTAMP 'not-a-time' is neither a date-time nor a number of seconds", result.Error.Trim());
        Assert.Empty(Directory.EnumerateFileSystemEntries(cache.Path));
    }

    [Theory]
    [InlineData("demo")]
    [InlineData("bench placement")]
    public async Task A_loraserve_row_whose_adapter_names_no_rank_is_refused_with_its_line(string command)
    {
        using var cache = new TempDirectory();
        var path = _dir.File("lora.csv", """
            req_id,model_dir,adapter_dir,prompt_len,output_len,req_time
            0,llama-7b,adapters/llama-7b-lora-rank-16-4,120,40,0.0
            1,llama-7b,adapters/llama-7b-lora-4,120,40,0.5
            """);

        var result = await CliRun.InvokeAsync([.. command.Split(' '), "--trace", path, "--cache", cache.Path]);

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: lora.csv:3: adapter_dir 'adapters/llama-7b-lora-4' names no rank", result.Error.Trim());
        Assert.Empty(Directory.EnumerateFileSystemEntries(cache.Path));
    }

    public void Dispose() => _dir.Dispose();
}
