using System.Text.RegularExpressions;
using LoRAQueue.Core;
using LoRAQueue.Formats;

namespace LoRAQueue.History;

/// <summary>What registration learns from an adapter's files, with their content digest.</summary>
public sealed record ValidatedAdapter(string Id, string Path, string BaseModel, int MaxRank, int RankBucket, long SizeBytes,
                                      int ModuleCount, AdapterManifest Manifest);

/// <summary>
/// Checks an adapter in the store (<c>{storePath}/{id}</c>) against the base model with <see cref="LoraAdapter.Load"/>
/// and measures what the registry keeps. Shared by both registries so they accept and refuse the same adapters.
/// </summary>
public sealed partial class AdapterValidator
{
    private readonly string _storePath;
    private readonly ModelConfig _baseModel;
    private readonly string _baseModelName;
    private readonly RankBuckets _buckets;

    /// <param name="baseModelName">What the registry records as the base model (e.g. the model directory's name).</param>
    public AdapterValidator(string storePath, ModelConfig baseModel, string baseModelName, RankBuckets? buckets = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(storePath);
        ArgumentNullException.ThrowIfNull(baseModel);
        ArgumentException.ThrowIfNullOrEmpty(baseModelName);
        _storePath = Path.GetFullPath(storePath);
        _baseModel = baseModel;
        _baseModelName = baseModelName;
        _buckets = buckets ?? RankBuckets.Default;
    }

    /// <summary>Reads the base model's config.json; the directory's name is recorded as the base model.</summary>
    public static AdapterValidator ForModelDirectory(string storePath, string modelDirectory, RankBuckets? buckets = null)
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelDirectory));
        return new AdapterValidator(storePath, ModelConfig.Load(full), Path.GetFileName(full), buckets);
    }

    public string StorePath => _storePath;

    public ValidatedAdapter Validate(string id)
    {
        CheckId(id);
        string directory = Path.Combine(_storePath, id);
        if (!Directory.Exists(directory))
            throw new AdapterRegistrationException(
                $"adapter '{id}' is not in the adapter store: expected a PEFT directory at {directory}");
        LoraAdapter adapter;
        try
        {
            adapter = LoraAdapter.Load(directory, _baseModel);
        }
        catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
        {
            throw new AdapterRegistrationException($"adapter '{id}' is not valid for base model '{_baseModelName}': {e.Message}", e);
        }
        return new ValidatedAdapter(id, directory, _baseModelName, adapter.MaxRank, _buckets.BucketOf(adapter.MaxRank),
                                    adapter.SizeBytes, adapter.Modules.Count, AdapterManifest.Compute(directory));
    }

    /// <summary>An id names one directory directly under the store: no separators, no "..", nothing hidden.</summary>
    public static void CheckId(string id)
    {
        if (string.IsNullOrEmpty(id) || !IdPattern().IsMatch(id))
            throw new AdapterRegistrationException(
                $"'{id}' is not a valid adapter id: use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit");
    }

    internal static void CheckTenant(string tenant)
    {
        if (string.IsNullOrWhiteSpace(tenant) || tenant.Length > 128)
            throw new AdapterRegistrationException("an adapter needs a tenant (1 to 128 characters)");
    }

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\z")]
    private static partial Regex IdPattern();
}
