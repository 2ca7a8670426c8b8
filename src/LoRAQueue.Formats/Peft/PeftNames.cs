using System.Globalization;
using System.Text.RegularExpressions;

namespace LoRAQueue.Formats;

/// <summary>PEFT's tensor keys and module-name matching (target_modules, rank_pattern, alpha_pattern).</summary>
internal static partial class PeftNames
{
    public const string KeyPrefix = "base_model.model.";

    /// <summary>A parsed adapter tensor key: which layer, which module, and A or B.</summary>
    public readonly record struct LoraKey(int Layer, string Parent, string Module, bool IsA);

    [GeneratedRegex(@"^base_model\.model\.model\.layers\.(\d{1,9})\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)\.lora_([AB])\.weight$",
                    RegexOptions.CultureInvariant)]
    private static partial Regex LoraKeyRegex();

    private static readonly TimeSpan PatternTimeout = TimeSpan.FromMilliseconds(250);

    public static string ParentOf(string module) => module is "gate_proj" or "up_proj" or "down_proj" ? "mlp" : "self_attn";

    public static string ModuleFullName(int layer, string module) => $"model.layers.{layer}.{ParentOf(module)}.{module}";

    public static bool TryParseKey(string key, out LoraKey parsed)
    {
        var match = LoraKeyRegex().Match(key);
        if (!match.Success)
        {
            parsed = default;
            return false;
        }
        parsed = new LoraKey(int.Parse(match.Groups[1].ValueSpan, CultureInfo.InvariantCulture),
                             match.Groups[2].Value, match.Groups[3].Value, match.Groups[4].ValueSpan[0] == 'A');
        return true;
    }

    /// <summary>The first key that matches <paramref name="moduleName"/> as PEFT does: regex <c>(.*\.)?{key}$</c>.</summary>
    public static string? FindPatternKey(IEnumerable<string> keys, string moduleName, string field)
    {
        foreach (string key in keys)
            if (IsMatch(moduleName, $"^(?:.*\\.)?(?:{key})$", $"{field} key '{key}'"))
                return key;
        return null;
    }

    /// <summary>Whether the adapter config targets the module: a list entry equal to the name or a dotted suffix of it, or a full-match regex.</summary>
    public static bool IsTargeted(AdapterConfig config, string moduleName)
    {
        if (config.TargetModulesRegex is { } regex)
            return IsMatch(moduleName, $"^(?:{regex})$", $"target_modules regex '{regex}'");
        if (config.TargetModules.Count == 0)
            return true;
        foreach (string target in config.TargetModules)
            if (MatchesTarget(moduleName, target))
                return true;
        return false;
    }

    public static bool MatchesTarget(string moduleName, string target) =>
        moduleName == target || (moduleName.EndsWith(target, StringComparison.Ordinal)
                                 && moduleName.Length > target.Length
                                 && moduleName[moduleName.Length - target.Length - 1] == '.');

    public static bool IsMatch(string input, string pattern, string what)
    {
        try
        {
            return Regex.IsMatch(input, pattern, RegexOptions.CultureInvariant, PatternTimeout);
        }
        catch (ArgumentException e)
        {
            throw new AdapterFormatException($"{what} is not a valid regular expression ({e.Message})", e);
        }
        catch (RegexMatchTimeoutException e)
        {
            throw new AdapterFormatException($"{what} took too long to match '{input}'", e);
        }
    }
}
