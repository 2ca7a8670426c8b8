namespace LoRAQueue.Engine.Tests;

/// <summary>Drives an engine synchronously (Step on the test thread): deterministic, no sleeping.</summary>
internal static class EngineRunner
{
    public static IReadOnlyList<GenerationResult> RunAll(InferenceEngine engine, IEnumerable<GenerationRequest> requests,
                                                         List<StepStats>? steps = null)
    {
        var tasks = requests.Select(r => engine.Submit(r)).ToList();
        RunUntilIdle(engine, steps);
        Assert.All(tasks, t => Assert.True(t.IsCompletedSuccessfully));
        return tasks.Select(t => t.Result).ToList();
    }

    public static void RunUntilIdle(InferenceEngine engine, List<StepStats>? steps = null, int maxSteps = 100_000)
    {
        for (int i = 0; engine.HasWork; i++)
        {
            Assert.True(i < maxSteps, "engine did not finish");
            var stats = engine.Step();
            steps?.Add(stats);
        }
    }

    public static GenerationResult RunAlone(InferenceEngine engine, GenerationRequest request) => RunAll(engine, [request])[0];

    /// <summary>A deterministic prompt of in-vocabulary token ids.</summary>
    public static int[] Prompt(int length, int seed, int vocab = 512)
    {
        var random = new Random(seed);
        var tokens = new int[length];
        for (int i = 0; i < length; i++) tokens[i] = 3 + random.Next(vocab - 3); // skip special ids 0..2
        return tokens;
    }

    public static float MaxAbsDifference(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        float max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
        return max;
    }
}
