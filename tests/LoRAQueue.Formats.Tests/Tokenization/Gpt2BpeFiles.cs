using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace LoRAQueue.Formats.Tests.Tokenization;

/// <summary>
/// Writes a small GPT-2 style byte-level BPE tokenizer (vocab.json + merges.txt) learned from
/// <see cref="TrainingCorpus.English"/>, to test <see cref="ModelTokenizer"/>'s byte-level path.
/// </summary>
public static class Gpt2BpeFiles
{
    public const string EndOfText = "<|endoftext|>";

    /// <summary>Writes the files and returns the vocabulary (token → id).</summary>
    public static Dictionary<string, int> Write(string directory, int merges = 200)
    {
        var byteToChar = ByteToUnicode();
        var words = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (Match m in Regex.Matches(TrainingCorpus.English, @" ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+"))
        {
            string mapped = string.Concat(Encoding.UTF8.GetBytes(m.Value).Select(b => byteToChar[b]));
            words[mapped] = words.GetValueOrDefault(mapped) + 1;
        }
        var learned = BpeTrainer.Train(words, merges);

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (char c in byteToChar) vocab[c.ToString()] = vocab.Count;
        var mergeLines = new List<string> { "#version: 0.2" };
        foreach (var (left, right) in learned.Merges)
        {
            mergeLines.Add($"{left} {right}");
            vocab.TryAdd(left + right, vocab.Count);
        }
        vocab[EndOfText] = vocab.Count;

        File.WriteAllText(Path.Combine(directory, "vocab.json"), JsonSerializer.Serialize(vocab));
        File.WriteAllLines(Path.Combine(directory, "merges.txt"), mergeLines);
        return vocab;
    }

    /// <summary>GPT-2's reversible map from bytes to printable characters (space becomes 'Ġ').</summary>
    private static char[] ByteToUnicode()
    {
        var map = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }
}
