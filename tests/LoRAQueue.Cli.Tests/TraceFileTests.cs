using LoRAQueue.Cli.Demo;

namespace LoRAQueue.Cli.Tests;

/// <summary>Both trace formats the demo replays, and the errors a broken trace gets (file and line named).</summary>
public sealed class TraceFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private const string AzureSample = """
        TIMESTAMP,ContextTokens,GeneratedTokens
        2023-11-16 18:15:46.6805900,374,44
        2023-11-16 18:15:50.9951690,396,109
        2023-11-16 18:15:51.2224670,879,55

        2023-11-16 18:15:51.3910170,91,16
        """;

    private const string MooncakeSample = """
        {"timestamp": 0, "input_length": 6758, "output_length": 500, "hash_ids": [0, 1, 2]}
        {"timestamp": 1500, "input_length": 7322, "output_length": 490, "hash_ids": [0, 14]}
        {"timestamp": 1200, "input_length": 12, "output_length": 3, "hash_ids": []}
        """;

    [Fact]
    public void Azure_csv_rows_become_requests_relative_to_the_first()
    {
        var requests = TraceFile.Read(_dir.File("conv.csv", AzureSample), maxRows: 100);

        Assert.Equal([374, 396, 879, 91], requests.Select(r => r.InputTokens));
        Assert.Equal([44, 109, 55, 16], requests.Select(r => r.OutputTokens));
        Assert.Equal(TimeSpan.Zero, requests[0].Arrival);
        Assert.Equal(TimeSpan.FromTicks(43_145_790), requests[1].Arrival);
        Assert.Equal(TimeSpan.FromTicks(47_104_270), requests[3].Arrival);
    }

    [Fact]
    public void Only_the_first_rows_are_read()
    {
        var path = _dir.File("conv.csv", AzureSample + "\nthis line is never read,,\n");

        var requests = TraceFile.Read(path, maxRows: 2);

        Assert.Equal([374, 396], requests.Select(r => r.InputTokens));
    }

    [Fact]
    public void Mooncake_json_lines_take_millisecond_timestamps_and_are_sorted_by_arrival()
    {
        var requests = TraceFile.Read(_dir.File("mooncake.jsonl", MooncakeSample), maxRows: 10);

        Assert.Equal([0.0, 1.2, 1.5], requests.Select(r => r.Arrival.TotalSeconds));
        Assert.Equal([6758, 12, 7322], requests.Select(r => r.InputTokens));
        Assert.Equal([500, 3, 490], requests.Select(r => r.OutputTokens));
    }

    [Theory]
    [InlineData("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\nyesterday,10,10\n", 3, "TIMESTAMP 'yesterday'")]
    [InlineData("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\n\n2023-11-16 18:15:47,12\n", 4, "expected 3 comma-separated fields, found 2")]
    [InlineData("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,-5,44\n", 2, "ContextTokens '-5'")]
    [InlineData("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,4.5\n", 2, "GeneratedTokens '4.5'")]
    [InlineData("time,input,output\n1,2,3\n", 1, "expected a header with TIMESTAMP,ContextTokens,GeneratedTokens")]
    [InlineData("{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n{\"timestamp\": 10, \"input_length\": 5\n", 2, "not a JSON object")]
    [InlineData("{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n{\"timestamp\": 10, \"output_length\": 1}\n", 2, "'input_length' must be a whole number")]
    [InlineData("{\"timestamp\": \"soon\", \"input_length\": 5, \"output_length\": 1}\n", 1, "'timestamp' must be a number")]
    [InlineData("\n\n", 1, "no requests")]
    public void A_malformed_row_is_reported_with_its_file_and_line(string contents, int line, string reason)
    {
        var path = _dir.File("broken.trace", contents);

        var e = Assert.Throws<TraceFormatException>(() => TraceFile.Read(path, maxRows: 100));

        Assert.Equal(line, e.Line);
        Assert.StartsWith($"broken.trace:{line}: ", e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void A_missing_trace_file_is_named()
    {
        var e = Assert.Throws<FileNotFoundException>(() => TraceFile.Read(Path.Combine(_dir.Path, "nope.csv"), 10));
        Assert.Contains("nope.csv", e.Message);
    }

    [Fact]
    public async Task The_demo_command_reports_a_broken_trace_in_one_line_and_exits_1()
    {
        using var cache = new TempDirectory();
        var path = _dir.File("broken.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.68,374,44\nnot-a-time,1,1\n");

        var result = await CliRun.InvokeAsync("demo", "--trace", path, "--cache", cache.Path, "--jobs", "5");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("error: broken.csv:3: TIMESTAMP 'not-a-time' is neither a date-time nor a number of seconds", result.Error.Trim());
    }

    public void Dispose() => _dir.Dispose();
}
