using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace LoRAQueue.Hosting;

/// <summary>Options bound from one configuration section, whose problems name the full key.</summary>
public interface ISectionOptions
{
    /// <summary>The section its properties bind from, e.g. "LoRAQueue:Worker" (env LORAQUEUE__WORKER__…).</summary>
    static abstract string Section { get; }

    /// <summary>Each problem as one sentence naming the full key, e.g. "LoRAQueue:Worker:MaxSequences must be ≥ 1 (got 0)".</summary>
    IEnumerable<string> Problems();
}

/// <summary>
/// The one way settings are read: <c>AddOptions&lt;T&gt;()</c> bound from <see cref="ISectionOptions.Section"/>, validated by
/// <see cref="ISectionOptions.Problems"/> and at start-up (<c>ValidateOnStart</c>). A value the binder cannot convert
/// ("abc" for a number) is reported as a validation failure naming the key too, so either way the host stops with
/// <see cref="OptionsValidationException"/> (exit code 2, <see cref="HostRunner"/>).
/// </summary>
public static partial class SectionOptions
{
    public static OptionsBuilder<T> AddSectionOptions<T>(this IServiceCollection services, IConfiguration configuration)
        where T : class, ISectionOptions
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<T>, ProblemsValidator<T>>());
        return services.AddOptions<T>().Configure(o => Bind(configuration.GetSection(T.Section), o)).ValidateOnStart();
    }

    /// <summary>The validated options now, through the same registration: for a setting a host needs before its container
    /// exists (the worker loads its model while building). Throws <see cref="OptionsValidationException"/>.</summary>
    public static T Read<T>(IConfiguration configuration) where T : class, ISectionOptions
    {
        var services = new ServiceCollection();
        services.AddSectionOptions<T>(configuration);
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<T>>().Value;
    }

    /// <summary>The failures of a start-up that stopped on settings, as one line; null for any other exception.</summary>
    public static string? Describe(Exception e) => e switch
    {
        OptionsValidationException v => string.Join("; ", v.Failures),
        AggregateException a when a.InnerExceptions.Count > 0 && a.InnerExceptions.All(i => i is OptionsValidationException) =>
            string.Join("; ", a.InnerExceptions.SelectMany(i => ((OptionsValidationException)i).Failures)),
        _ => null,
    };

    private static void Bind<T>(IConfigurationSection section, T options) where T : class
    {
        try
        {
            section.Bind(options);
        }
        catch (InvalidOperationException e) when (BinderFailure().Match(e.Message) is { Success: true } m)
        {
            string type = m.Groups["type"].Value switch
            {
                "System.Int32" or "System.Int64" => "a whole number",
                "System.Double" => "a number",
                "System.Boolean" => "true or false",
                var other => "a " + other,
            };
            throw new OptionsValidationException(Options.DefaultName, typeof(T),
                [string.Create(CultureInfo.InvariantCulture, $"{m.Groups["key"].Value} must be {type} (got '{m.Groups["value"].Value}')")]);
        }
    }

    // ConfigurationBinder's message for a value it cannot convert.
    [GeneratedRegex("^Failed to convert configuration value '(?<value>.*)' at '(?<key>[^']*)' to type '(?<type>[^']*)'", RegexOptions.Singleline)]
    private static partial Regex BinderFailure();

    private sealed class ProblemsValidator<T> : IValidateOptions<T> where T : class, ISectionOptions
    {
        public ValidateOptionsResult Validate(string? name, T options)
        {
            var problems = options.Problems().ToList();
            return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
        }
    }
}

/// <summary>Checks with messages that name the key: <c>problems.AtLeast(section, "MaxSequences", value, 1)</c>.</summary>
public static class OptionChecks
{
    public static IEnumerable<string> AtLeast(string section, string key, double value, double min) =>
        value >= min ? [] : [Invariant($"{section}:{key} must be ≥ {min} (got {value})")];

    public static IEnumerable<string> Positive(string section, string key, double value) =>
        value > 0 && double.IsFinite(value) ? [] : [Invariant($"{section}:{key} must be > 0 (got {value})")];

    public static IEnumerable<string> Seconds(string section, string key, double value, double min = 0, double max = 86_400) =>
        value >= min && value <= max ? [] : [Invariant($"{section}:{key} must be a number of seconds from {min} to {max} (got {value})")];

    public static IEnumerable<string> OneOf(string section, string key, string? value, IReadOnlyCollection<string> known) =>
        value is not null && known.Contains(value.Trim(), StringComparer.OrdinalIgnoreCase) ? []
            : [$"{section}:{key} must be one of {string.Join(", ", known)} (got '{value}')"];

    public static IEnumerable<string> Required(string section, string key, string? value, string what) =>
        !string.IsNullOrWhiteSpace(value) ? []
            : [$"{section}:{key} (env {EnvName(section, key)}) must name {what}"];

    public static string EnvName(string section, string key) => (section + "__" + key).Replace(":", "__", StringComparison.Ordinal).ToUpperInvariant();

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
