using System.Text.Json;
using LoRAQueue.Workloads;

namespace LoRAQueue.Cli.Tests;

/// <summary>`loraqueue workload generate|describe` in-process, on files the tests write (never the shared data).</summary>
public sealed class WorkloadCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private async Task<JsonElement> DescribeAsync(string path, params string[] args)
    {
        var result = await CliRun.InvokeAsync(["workload", "describe", path, "--json", .. args]);
        Assert.True(result.ExitCode == 0, result.ToString());
        return JsonDocument.Parse(result.Output).RootElement.Clone();
    }

    [Fact]
    public async Task Generate_writes_a_loraserve_csv_that_describe_reads_and_the_same_seed_writes_the_same_file()
    {
        var a = Path.Combine(_dir.Path, "a.csv");
        var b = Path.Combine(_dir.Path, "b.csv");
        string[] args = ["workload", "generate", "--kind", "gamma", "--cv", "3", "--rate", "20", "--duration", "60", "--adapters", "12",
                         "--alpha", "1.2", "--ranks", "8:0.5,64:0.5", "--seed", "4", "--input-tokens", "64", "--output-tokens", "16"];

        var first = await CliRun.InvokeAsync([.. args, "--out", a]);
        var second = await CliRun.InvokeAsync([.. args, "--out", b]);

        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.Contains("generated: Gamma arrivals (CV 3) at 20 req/s for 60 s, Zipf 1.2 over 12 adapters, ranks 8:0.5,64:0.5", first.Output);
        Assert.Contains($"to {a}", first.Output);
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
        var summary = await DescribeAsync(a);
        Assert.Equal("LoRAServe CSV", summary.GetProperty("format").GetString());
        Assert.InRange(summary.GetProperty("requests").GetInt32(), 900, 1500);
        Assert.Equal(64, summary.GetProperty("input").GetProperty("p99").GetInt32());
        Assert.Equal([8, 64], summary.GetProperty("ranks").EnumerateArray().Select(r => r.GetProperty("rank").GetInt32()));
        Assert.InRange(summary.GetProperty("adapters").GetInt32(), 6, 12);
    }

    [Fact]
    public async Task A_trace_without_adapters_gets_them_and_keeps_its_arrivals()
    {
        var azure = _dir.File("conv.csv", """
            TIMESTAMP,ContextTokens,GeneratedTokens
            2023-11-16 18:15:46.6805900,374,44
            2023-11-16 18:15:50.9951690,396,109
            2023-11-16 18:15:51.2224670,879,55
            """);
        var output = Path.Combine(_dir.Path, "conv-lora.csv");

        var result = await CliRun.InvokeAsync("workload", "generate", "--kind", "trace", "--from-trace", azure, "--adapters", "5", "--ranks", "16",
                                              "--seed", "2", "--out", output);

        Assert.True(result.ExitCode == 0, result.ToString());
        var read = TraceReader.Read(output);
        Assert.Equal(TraceReader.Read(azure).Requests.Select(r => (r.Arrival, r.InputTokens, r.OutputTokens)),
                     read.Requests.Select(r => (r.Arrival, r.InputTokens, r.OutputTokens)));
        Assert.All(read.Requests, r => Assert.Equal(16, r.Rank));
    }

    [Fact]
    public async Task Production_reads_the_servegen_files_from_the_folder_given()
    {
        _dir.File(ProductionWorkload.RatesFile, "model,client_id,window_start_s,rate,cv,arrival_pattern,pattern_shape,pattern_scale\nm-large,0,0,2,1,Gamma,1,1\nm-large,1,0,1,1,Gamma,1,1\n");
        _dir.File(ProductionWorkload.LengthsFile, "model,client_id,window_start_s,input_mean,input_p50,input_p90,input_p99,output_mean,output_p50,output_p90,output_p99,reason_ratio_mean\nm-large,0,0,50,40,80,100,9,8,12,20,\n");
        var output = Path.Combine(_dir.Path, "prod.csv");

        var result = await CliRun.InvokeAsync("workload", "generate", "--kind", "production", "--from-data", _dir.Path, "--rate", "10",
                                              "--duration", "300", "--out", output);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("production-like: ServeGen m-large, the 2 busiest of 2 active clients", result.Output);
        var summary = await DescribeAsync(output);
        Assert.Equal(2, summary.GetProperty("adapters").GetInt32());
        Assert.InRange(summary.GetProperty("rate_per_second").GetDouble(), 8.5, 11.5);
    }

    [Fact]
    public async Task Describe_prints_the_format_the_lengths_and_the_rank_histogram()
    {
        var path = _dir.File("slora.csv", """
            req_id,model_dir,adapter_dir,prompt_len,output_len,req_time
            0,m,adapters/a-rank-16-0,100,10,0
            1,m,adapters/b-rank-8-1,200,20,0.5
            2,m,adapters/a-rank-16-0,300,30,1
            """);

        var result = await CliRun.InvokeAsync("workload", "describe", path);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("trace slora.csv (LoRAServe CSV, 3 requests)", result.Output);
        Assert.Matches(@"rate\s+2\.000 req/s \(inter-arrival CV 0\.00\)", result.Output);
        Assert.Matches(@"input tokens\s+mean 200\.0, p50 200, p99 300, max 300", result.Output);
        Assert.Matches(@"adapters\s+2 \(the busiest has 66\.7% of requests\)", result.Output);
        Assert.Matches(@"│ 8\s+│\s+1 │\s+1 │\s+33\.3% │", result.Output);
        Assert.Matches(@"│ 16\s+│\s+1 │\s+2 │\s+66\.7% │", result.Output);
    }

    [Theory]
    [InlineData("generate --kind poisson --out x.csv", "--kind poisson needs --rate")]
    [InlineData("generate --kind poisson --rate 1 --cv 2 --out x.csv", "--cv is for --kind gamma")]
    [InlineData("generate --rate 1 --ranks 8:0.5,y --out x.csv", "'y' in the rank mix '8:0.5,y'")]
    [InlineData("generate --rate 0 --out x.csv", "--rate must be a positive number")]
    [InlineData("generate --kind production --out x.csv", "--kind production needs --from-data")]
    [InlineData("generate --kind trace --out x.csv", "--kind trace needs --from-trace")]
    [InlineData("generate --rate 1 --adapters 0 --out x.csv", "--adapters must be at least 1")]
    public async Task Bad_options_get_one_line_and_exit_1(string args, string message)
    {
        var result = await CliRun.InvokeAsync(["workload", .. args.Split(' ').Select(a => a == "x.csv" ? Path.Combine(_dir.Path, a) : a)]);

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("error: ", result.Error);
        Assert.Contains(message, result.Error);
        Assert.False(File.Exists(Path.Combine(_dir.Path, "x.csv")));
    }

    [Fact]
    public async Task A_broken_trace_is_named_with_its_line()
    {
        var path = _dir.File("broken.jsonl", "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n{\"timestamp\": -1, \"input_length\": 5, \"output_length\": 1}\n");

        var result = await CliRun.InvokeAsync("workload", "describe", path);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("error: broken.jsonl:2: 'timestamp' must be a number ≥ 0", result.Error.Trim());
    }

    [Fact]
    public async Task Describe_can_force_a_format()
    {
        var path = _dir.File("both.csv", "adapter_dir,req_time,prompt_len,output_len,TIMESTAMP,ContextTokens,GeneratedTokens\nx-rank-8,1,2,3,4,5,6\n");

        var auto = await DescribeAsync(path);
        var forced = await DescribeAsync(path, "--format", "azure");

        Assert.Equal("LoRAServe CSV", auto.GetProperty("format").GetString());
        Assert.Equal("Azure LLM inference CSV", forced.GetProperty("format").GetString());
        Assert.Equal(5, forced.GetProperty("input").GetProperty("max").GetInt32());
    }
}
