using System.CommandLine;
using LoRAQueue.Engine;
using LoRAQueue.Formats;
using LoRAQueue.Kernels;

namespace LoRAQueue.Cli.Commands;

/// <summary>`loraqueue generate`: one prompt through the engine, with or without an adapter.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = new Option<DirectoryInfo>("--model") { Description = "Base model directory", Required = true };
        var adapter = new Option<DirectoryInfo?>("--adapter") { Description = "PEFT adapter directory (optional)" };
        var prompt = new Option<string>("--prompt") { Description = "Prompt text", Required = true };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens to generate", DefaultValueFactory = _ => 32 };
        var temperature = new Option<float>("--temperature") { Description = "0 = greedy", DefaultValueFactory = _ => 0f };
        var topP = new Option<float>("--top-p") { DefaultValueFactory = _ => 1f };
        var topK = new Option<int>("--top-k") { Description = "0 = off", DefaultValueFactory = _ => 0 };
        var seed = new Option<ulong?>("--seed") { Description = "Sampling seed" };
        var stop = new Option<string[]>("--stop") { Description = "Stop strings", AllowMultipleArgumentsPerToken = true };
        var kernel = new Option<string>("--kernel") { Description = "Multi-LoRA kernel", DefaultValueFactory = _ => "segmented" };
        kernel.AcceptOnlyFromAmong("segmented", "padded");

        var command = new Command("generate", "Run one prompt")
        {
            model, adapter, prompt, maxTokens, temperature, topP, topK, seed, stop, kernel,
        };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var modelDir = parse.GetValue(model)!.FullName;
                using var llama = LlamaModel.Load(modelDir);
                var tokenizer = ModelTokenizer.Load(modelDir);
                using var engine = new InferenceEngine(llama, tokenizer, new EngineOptions
                {
                    KvCacheBytes = 256L << 20,
                    LoraKernel = MultiLoraKernels.Create(parse.GetValue(kernel)!),
                });
                string? adapterId = null;
                if (parse.GetValue(adapter) is { } adapterDir)
                {
                    adapterId = adapterDir.Name;
                    engine.LoadAdapter(adapterId, LoraAdapter.Load(adapterDir.FullName, llama.Config));
                }

                using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var loop = engine.RunAsync(cts.Token);
                var result = await engine.Submit(new GenerationRequest(
                    "cli", tokenizer.Encode(parse.GetValue(prompt)!), adapterId,
                    new SamplingParams(parse.GetValue(temperature), parse.GetValue(topP), parse.GetValue(topK), parse.GetValue(seed)),
                    parse.GetValue(maxTokens), parse.GetValue(stop)));
                cts.Cancel();
                try { await loop; } catch (OperationCanceledException) { }

                Console.WriteLine(result.Text);
                var t = result.Timings;
                Console.Error.WriteLine(
                    $"{result.PromptTokenCount} prompt + {result.OutputTokens.Count} output tokens, finish: {result.FinishReason}; " +
                    $"TTFT {t.TimeToFirstToken.TotalMilliseconds:F1} ms, TPOT {t.TimePerOutputToken.TotalMilliseconds:F2} ms, total {t.Total.TotalMilliseconds:F1} ms");
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or FormatException or IOException or InvalidOperationException)
            {
                return CliOutput.Fail(e);
            }
        });
        return command;
    }
}
