using LoRAQueue.Formats;

namespace LoRAQueue.Engine.Tests;

/// <summary>A deliberately naive Llama forward pass in double precision, written from the Hugging Face modeling code
/// (rotate_half RoPE, GQA by repeat_kv, q/k/v bias, tied lm_head, sliding window), full attention over the whole
/// prompt, no cache: the yardstick for the engine's numerics.</summary>
internal sealed class ReferenceLlama(string modelDir)
{
    private readonly ModelConfig _c = ModelConfig.Load(modelDir);

    /// <summary>Logits of the last prompt position.</summary>
    public double[] LastLogits(IReadOnlyList<int> tokens)
    {
        using var w = ModelWeights.Open(modelDir);
        int n = tokens.Count, d = _c.HiddenSize, hd = _c.HeadDim, heads = _c.NumAttentionHeads, kvHeads = _c.NumKeyValueHeads;
        var embed = w.ReadFloat32("model.embed_tokens.weight");
        var x = new double[n][];
        for (int t = 0; t < n; t++) x[t] = Enumerable.Range(0, d).Select(i => (double)embed[tokens[t] * d + i]).ToArray();

        for (int l = 0; l < _c.NumHiddenLayers; l++)
        {
            string p = $"model.layers.{l}.";
            var xn = x.Select(r => RmsNorm(r, w.ReadFloat32(p + "input_layernorm.weight"))).ToArray();
            var q = xn.Select(r => Linear(w, p + "self_attn.q_proj", r)).ToArray();
            var k = xn.Select(r => Linear(w, p + "self_attn.k_proj", r)).ToArray();
            var v = xn.Select(r => Linear(w, p + "self_attn.v_proj", r)).ToArray();
            for (int t = 0; t < n; t++)
            {
                for (int h = 0; h < heads; h++) Rope(q[t], h * hd, t);
                for (int h = 0; h < kvHeads; h++) Rope(k[t], h * hd, t);
            }
            var att = new double[n][];
            for (int t = 0; t < n; t++)
            {
                att[t] = new double[heads * hd];
                for (int h = 0; h < heads; h++)
                {
                    int kv = h / (heads / kvHeads);
                    int first = _c.SlidingWindow is int window ? Math.Max(0, t - window + 1) : 0;
                    var scores = new double[t + 1 - first];
                    for (int j = first; j <= t; j++)
                    {
                        double s = 0;
                        for (int i = 0; i < hd; i++) s += q[t][h * hd + i] * k[j][kv * hd + i];
                        scores[j - first] = s / Math.Sqrt(hd);
                    }
                    double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max));
                    for (int j = first; j <= t; j++)
                        for (int i = 0; i < hd; i++)
                            att[t][h * hd + i] += Math.Exp(scores[j - first] - max) / sum * v[j][kv * hd + i];
                }
            }
            for (int t = 0; t < n; t++) Add(x[t], Linear(w, p + "self_attn.o_proj", att[t]));

            for (int t = 0; t < n; t++)
            {
                var h = RmsNorm(x[t], w.ReadFloat32(p + "post_attention_layernorm.weight"));
                var gate = Linear(w, p + "mlp.gate_proj", h);
                var up = Linear(w, p + "mlp.up_proj", h);
                var act = gate.Select((g, i) => g / (1 + Math.Exp(-g)) * up[i]).ToArray();
                Add(x[t], Linear(w, p + "mlp.down_proj", act));
            }
        }
        var last = RmsNorm(x[n - 1], w.ReadFloat32("model.norm.weight"));
        string head = w.Contains("lm_head.weight") && !_c.TieWordEmbeddings ? "lm_head" : "model.embed_tokens";
        return Linear(w, head, last);
    }

    private double[] RmsNorm(double[] x, float[] weight)
    {
        double ms = x.Sum(v => v * v) / x.Length, inv = 1 / Math.Sqrt(ms + _c.RmsNormEps);
        return x.Select((v, i) => v * inv * weight[i]).ToArray();
    }

    /// <summary>HF: q·cos + rotate_half(q)·sin, rotate_half(x) = [−x2, x1] over the two halves.</summary>
    private void Rope(double[] vector, int offset, int position)
    {
        int half = _c.HeadDim / 2;
        for (int i = 0; i < half; i++)
        {
            double angle = position / Math.Pow(_c.RopeTheta, 2.0 * i / _c.HeadDim);
            double x1 = vector[offset + i], x2 = vector[offset + i + half];
            vector[offset + i] = x1 * Math.Cos(angle) - x2 * Math.Sin(angle);
            vector[offset + i + half] = x2 * Math.Cos(angle) + x1 * Math.Sin(angle);
        }
    }

    private static double[] Linear(ModelWeights w, string prefix, double[] x)
    {
        var weight = w.ReadFloat32(prefix + ".weight");
        var bias = w.Contains(prefix + ".bias") ? w.ReadFloat32(prefix + ".bias") : null;
        int rows = weight.Length / x.Length;
        var y = new double[rows];
        for (int o = 0; o < rows; o++)
        {
            double s = bias?[o] ?? 0;
            for (int i = 0; i < x.Length; i++) s += weight[o * x.Length + i] * x[i];
            y[o] = s;
        }
        return y;
    }

    private static void Add(double[] x, double[] y)
    {
        for (int i = 0; i < x.Length; i++) x[i] += y[i];
    }
}
