using System.Text.Json;
using LoRAQueue.Core.Costs;

namespace LoRAQueue.Cli.Tests;

/// <summary>`loraqueue twin profile fit|show` in-process, on synthetic bench reports with known coefficients.</summary>
public sealed class TwinProfileCommandTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("loraqueue-twin-cli-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    // 3 ms per step, 400 µs per prompt token, 900 µs per decode token, 0.5 µs per KV token, 1.5 µs per token-rank.
    static double Truth(StepShape s, LoraKernelKind k) =>
        3e-3 + 400e-6 * s.PrefillTokens + 900e-6 * s.DecodeTokens + 0.5e-6 * s.KvTokensRead + 1.5e-6 * s.LoraTokenRank(k);

    string WriteEngineReport(bool withSteps = true)
    {
        var steps = new List<StepMeasurement>();
        void Add(string label, StepShape shape, LoraKernelKind kernel)
        {
            double ms = Truth(shape, kernel) * 1e3;
            steps.Add(new StepMeasurement
            {
                Label = label, PrefillTokens = shape.PrefillTokens, DecodeTokens = shape.DecodeTokens, KvTokensRead = shape.KvTokensRead,
                Kernel = kernel == LoraKernelKind.Padded ? "padded" : "segmented",
                Segments = [.. shape.Segments.Select(x => new MeasuredSegment(x.Tokens, x.Rank))], StepMs = ms, StepMsMin = ms * 0.98, TimedSteps = 4,
            });
        }
        foreach (int b in new[] { 16, 8, 4, 2, 1 })
        {
            Add($"decode ctx 16 batch {b}", new StepShape(0, b, b * 30L, [new LoraSegment(b, 0)]), LoraKernelKind.Segmented);
            Add($"decode ctx 128 batch {b}", new StepShape(0, b, b * 140L, [new LoraSegment(b, 0)]), LoraKernelKind.Segmented);
            Add($"decode rank 64 batch {b}", new StepShape(0, b, b * 30L, [new LoraSegment(b, 64)]), LoraKernelKind.Segmented);
            if (b > 1)
                Add($"decode mixed padded batch {b}", new StepShape(0, b, b * 30L, [new LoraSegment(b / 2, 8), new LoraSegment(b / 2, 64)]), LoraKernelKind.Padded);
        }
        foreach (int chunk in new[] { 32, 128 })
            Add($"prefill {chunk}", new StepShape(chunk, 0, chunk, [new LoraSegment(chunk, 0)]), LoraKernelKind.Segmented);
        string path = Path.Combine(_dir, "engine.json");
        File.WriteAllText(path, JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["preset"] = "small", ["weights_bytes"] = 8_000_000L, ["bandwidth_gbs"] = 30.0, ["gemm_gflops"] = 100.0,
            ["decode"] = Array.Empty<object>(), ["prefill_tokens_per_s"] = 1000.0,
            ["model"] = new BenchModelShape
            {
                Name = "small", HiddenSize = 256, Layers = 4, Parameters = 4_000_000, WeightBytes = 8_000_000, KvBytesPerToken = 4096,
                LoraBytesPerRank = 28_672, LoraFlopsPerTokenRank = 14_336, LoraTargets = ["q_proj", "k_proj", "v_proj", "o_proj"],
            },
            ["steps"] = withSteps ? steps : [],
        }));
        return path;
    }

    string WriteKernelsReport()
    {
        string path = Path.Combine(_dir, "kernels.json");
        File.WriteAllText(path, """
            {"bandwidth_gbs":30,"hidden":4096,"cases":[
              {"name":"uniform-8","tokens":256,"ranks":[8],"segmented_ms":0.4,"padded_ms":0.4,"loop_ms":1.4,"segmented_gflops":90,"flop_ratio":1,"token_rank":2048,"padded_token_rank":2048},
              {"name":"uniform-128","tokens":256,"ranks":[128],"segmented_ms":5.9,"padded_ms":5.8,"loop_ms":26.8,"segmented_gflops":92,"flop_ratio":1,"token_rank":32768,"padded_token_rank":32768},
              {"name":"mixed","tokens":256,"ranks":[8,16,32,64,128],"segmented_ms":2.9,"padded_ms":7.1,"loop_ms":9.8,"segmented_gflops":66,"flop_ratio":2.77,"token_rank":11830,"padded_token_rank":32768}]}
            """);
        return path;
    }

    [Fact]
    public async Task Fit_writes_a_profile_with_the_known_coefficients_and_reports_each_point()
    {
        string output = Path.Combine(_dir, "cpu.json");
        var run = await CliRun.InvokeAsync("twin", "profile", "fit", "--engine", WriteEngineReport(), "--kernels", WriteKernelsReport(),
                                           "--out", output, "--form", "linear", "--statistic", "median", "--kv-tokens", "2048", "--max-batch", "16");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("R² 1.0000", run.Output);
        Assert.Contains("max |relative error| 0.0 %", run.Output);
        Assert.Contains("decode mixed padded batch 16", run.Output);
        Assert.Contains("implies", run.Output); // the kernels bench's cross-check of the LoRA price
        var profile = AcceleratorProfiles.Load(output);
        var c = profile.Coefficients!;
        Assert.Equal(StepCostForm.Linear, profile.Form);
        Assert.Equal(3, c.OverheadMs, 3);
        Assert.Equal(400, c.PrefillUsPerToken, 3);
        Assert.Equal(900, c.DecodeUsPerToken, 3);
        Assert.Equal(0.5, c.KvUsPerToken, 4);
        Assert.Equal(1.5, c.LoraUsPerTokenRank, 4);
        Assert.Equal((2048L, 16), (profile.Capacity!.KvTokens, profile.Capacity.MaxBatch));
        Assert.Contains("--kv-tokens 2048", profile.Sources.Single(s => s.Figure == "capacity.kv_tokens").Source);
        Assert.Contains("engine.json", profile.Sources.Single(s => s.Figure == "coefficients.prefill_us_per_token").Source);
        Assert.Equal(1, profile.Fit!.RSquared, 4);
    }

    [Fact]
    public async Task Fit_defaults_take_the_worker_capacity_and_each_points_fastest_step()
    {
        string output = Path.Combine(_dir, "cpu-min.json");
        var run = await CliRun.InvokeAsync("twin", "profile", "fit", "--engine", WriteEngineReport(), "--out", output, "--name", "cpu-min");
        Assert.True(run.ExitCode == 0, run.ToString());
        var profile = AcceleratorProfiles.Load(output);
        Assert.Equal("cpu-min", profile.Name);
        Assert.Equal(0.98 * 900, profile.Coefficients!.DecodeUsPerToken, 2); // every step 2 % faster: every price 2 % lower
        Assert.Equal(64L * 1024 * 1024 / 4096, profile.Capacity!.KvTokens); // the worker's KvCacheMb default ÷ KV bytes per token
        Assert.Equal(16, profile.Capacity.MaxBatch);
        Assert.Contains("fastest timed step", profile.Fit!.Method);
    }

    [Fact]
    public async Task Fit_refuses_a_report_without_steps_and_names_what_is_missing()
    {
        var run = await CliRun.InvokeAsync("twin", "profile", "fit", "--engine", WriteEngineReport(withSteps: false), "--out", Path.Combine(_dir, "x.json"));
        Assert.Equal(1, run.ExitCode);
        Assert.Contains("steps", run.Error);
        Assert.False(File.Exists(Path.Combine(_dir, "x.json")));
        var missing = await CliRun.InvokeAsync("twin", "profile", "fit", "--engine", Path.Combine(_dir, "none.json"), "--out", Path.Combine(_dir, "y.json"));
        Assert.Equal(1, missing.ExitCode);
        Assert.StartsWith("error: ", missing.Error);
    }

    [Fact]
    public async Task Show_prints_the_a100_coefficients_operating_points_and_sources()
    {
        var run = await CliRun.InvokeAsync("twin", "profile", "show", "a100");
        Assert.True(run.ExitCode == 0, run.ToString());
        foreach (string field in new[] { "overhead_ms", "weight_read_ms", "prefill_us_per_token", "decode_us_per_token", "kv_us_per_token", "lora_us_per_token_rank" })
            Assert.Contains(field, run.Output);
        Assert.Contains("roofline form", run.Output);
        Assert.Contains("5950", run.Output);              // the prototype's rank-8 operating point
        Assert.Contains("prod 7b tp1", run.Output);       // its source
        Assert.Contains("adapter_load.constant_ms", run.Output);

        var json = await CliRun.InvokeAsync("twin", "profile", "show", "a100", "--json");
        Assert.Equal(0, json.ExitCode);
        Assert.Equal("a100", AcceleratorProfiles.Parse(json.Output).Name);
    }

    [Fact]
    public async Task Show_reads_a_file_and_reports_a_broken_one_by_field()
    {
        string good = Path.Combine(_dir, "fitted.json");
        Assert.Equal(0, (await CliRun.InvokeAsync("twin", "profile", "fit", "--engine", WriteEngineReport(), "--out", good)).ExitCode);
        var run = await CliRun.InvokeAsync("twin", "profile", "show", good);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("cpu:", run.Output);
        Assert.Contains("fit:", run.Output);

        string broken = Path.Combine(_dir, "broken.json");
        File.WriteAllText(broken, File.ReadAllText(good).Replace("\"max_batch\": 16", "\"max_batch\": 0"));
        var bad = await CliRun.InvokeAsync("twin", "profile", "show", broken);
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("capacity.max_batch", bad.Error);
        var missing = await CliRun.InvokeAsync("twin", "profile", "show", "h100");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("a100", missing.Error);
    }
}
