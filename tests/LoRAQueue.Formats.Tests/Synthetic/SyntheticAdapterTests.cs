using System.Text.Json;

namespace LoRAQueue.Formats.Tests.Synthetic;

public class SyntheticAdapterTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>, IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private LoraAdapter CreateAndLoad(string name, int rank, IReadOnlyList<string>? targets = null, ulong seed = 5,
                                      IReadOnlyDictionary<string, int>? rankPattern = null, double? alpha = null, bool rslora = false)
    {
        SyntheticAdapter.Create(tiny.Directory, rank, targets, _dir.Combine(name), seed, rankPattern, alpha, rslora);
        return LoraAdapter.Load(_dir.Combine(name), ModelConfig.Load(tiny.Directory));
    }

    [Fact]
    public void LoadsAsAPeftAdapterWithTheDefaultAttentionTargets()
    {
        var adapter = CreateAndLoad("plain", rank: 8);

        Assert.Empty(adapter.Warnings);
        Assert.Equal(2 * 4, adapter.Modules.Count);
        Assert.Equal(["k_proj", "o_proj", "q_proj", "v_proj"], adapter.Modules.Select(m => m.Module).Distinct().Order());
        Assert.All(adapter.Modules, m =>
        {
            Assert.Equal(8, m.Rank);
            Assert.Equal(1f, m.Scale); // alpha defaults to the rank
            Assert.Equal(m.Rank * m.In, m.A.Length);
            Assert.Equal(m.Out * m.Rank, m.B.Length);
            Assert.Contains(m.B, v => v != 0); // unlike PEFT's init, B is not zero: the adapter does something
        });
        var v = adapter.Modules.Single(m => m.Layer == 1 && m.Module == "v_proj");
        Assert.Equal((32, 64), (v.Out, v.In)); // 2 kv heads × head_dim 16

        using var config = JsonDocument.Parse(File.ReadAllText(_dir.Combine("plain/adapter_config.json")));
        Assert.Equal("CAUSAL_LM", config.RootElement.GetProperty("task_type").GetString());
        Assert.False(config.RootElement.GetProperty("fan_in_fan_out").GetBoolean());
    }

    [Fact]
    public void RankPatternSetsPerModuleRanksByNameOrRegex()
    {
        var pattern = new Dictionary<string, int> { ["v_proj"] = 32, [@"layers\.1\.mlp\.down_proj"] = 4 };
        var adapter = CreateAndLoad("pattern", rank: 16, ModelConfig.LinearModules, rankPattern: pattern, alpha: 16);

        Assert.Equal(2 * 7, adapter.Modules.Count);
        Assert.All(adapter.Modules.Where(m => m.Module == "v_proj"), m => { Assert.Equal(32, m.Rank); Assert.Equal(0.5f, m.Scale); });
        Assert.Equal(4, adapter.Modules.Single(m => m.Layer == 1 && m.Module == "down_proj").Rank);
        Assert.Equal(16, adapter.Modules.Single(m => m.Layer == 0 && m.Module == "down_proj").Rank);
        Assert.Equal(32, adapter.MaxRank);
        Assert.Equal(32, adapter.Config.RankPattern["v_proj"]);
    }

    [Fact]
    public void RsLoraScalesByTheSquareRootOfTheRank()
    {
        var adapter = CreateAndLoad("rslora", rank: 16, ["q_proj"], alpha: 8, rslora: true);

        Assert.True(adapter.Config.UseRslora);
        Assert.All(adapter.Modules, m => Assert.Equal(2f, m.Scale, 5)); // 8 / √16
    }

    [Fact]
    public void TheSameSeedGivesTheSameAdapterAndAnotherSeedDoesNot()
    {
        CreateAndLoad("a", rank: 8, seed: 1);
        CreateAndLoad("b", rank: 8, seed: 1);
        CreateAndLoad("c", rank: 8, seed: 2);

        byte[] a = File.ReadAllBytes(_dir.Combine("a/adapter_model.safetensors"));
        Assert.Equal(a, File.ReadAllBytes(_dir.Combine("b/adapter_model.safetensors")));
        Assert.NotEqual(a, File.ReadAllBytes(_dir.Combine("c/adapter_model.safetensors")));
    }

    [Theory]
    [InlineData(4, false)]
    [InlineData(64, false)]
    [InlineData(64, true)]
    public void TheDeltaIsAFewTenthsOfTheBaseOutput(int rank, bool rslora)
    {
        var adapter = CreateAndLoad($"delta{rank}{rslora}", rank, ModelConfig.LinearModules, alpha: 2.0 * rank, rslora: rslora);
        using var weights = ModelWeights.Open(tiny.Directory);
        var random = new Random(3);

        foreach (var module in adapter.Modules.Where(m => m.Layer == 0))
        {
            string parent = module.Module is "gate_proj" or "up_proj" or "down_proj" ? "mlp" : "self_attn";
            var w = weights.ReadFloat32($"model.layers.0.{parent}.{module.Module}.weight");
            double baseSquares = 0, deltaSquares = 0;
            for (int sample = 0; sample < 16; sample++)
            {
                var x = Enumerable.Range(0, module.In).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
                var ax = new double[module.Rank];
                for (int j = 0; j < module.Rank; j++)
                    for (int i = 0; i < module.In; i++) ax[j] += module.A[j * module.In + i] * x[i];
                for (int o = 0; o < module.Out; o++)
                {
                    double y = 0, delta = 0;
                    for (int i = 0; i < module.In; i++) y += w[o * module.In + i] * x[i];
                    for (int j = 0; j < module.Rank; j++) delta += module.B[o * module.Rank + j] * ax[j];
                    baseSquares += y * y;
                    deltaSquares += module.Scale * module.Scale * delta * delta;
                }
            }
            double ratio = Math.Sqrt(deltaSquares / baseSquares);
            Assert.True(ratio is > 0.1 and < 0.3, $"{module.Module} rank {module.Rank}: delta/base = {ratio:F3}");
        }
    }

    [Fact]
    public void BadArgumentsAreRejected()
    {
        Assert.Throws<ArgumentException>(() => SyntheticAdapter.Create(tiny.Directory, 8, ["lm_head"], _dir.Combine("x"), 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => SyntheticAdapter.Create(tiny.Directory, 0, null, _dir.Combine("x"), 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => SyntheticAdapter.Create(tiny.Directory, 8, null, _dir.Combine("x"), 1, alpha: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            SyntheticAdapter.Create(tiny.Directory, 8, null, _dir.Combine("x"), 1, new Dictionary<string, int> { ["q_proj"] = 0 }));
        Assert.Throws<FileNotFoundException>(() => SyntheticAdapter.Create(_dir.Path, 8, null, _dir.Combine("x"), 1));
        Assert.False(Directory.Exists(_dir.Combine("x")));
    }
}
