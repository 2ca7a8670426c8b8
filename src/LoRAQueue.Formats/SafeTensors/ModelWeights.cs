namespace LoRAQueue.Formats;

/// <summary>
/// The weights of a Hugging Face model directory: <c>model.safetensors</c>, or shards listed in
/// <c>model.safetensors.index.json</c>. All files stay memory-mapped until Dispose.
/// </summary>
public sealed class ModelWeights : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafeTensorsFile> _files;
    private readonly Dictionary<string, SafeTensorsFile> _fileOfTensor;

    private ModelWeights(string directory, List<SafeTensorsFile> files, Dictionary<string, SafeTensorsFile> fileOfTensor)
    {
        Directory = directory;
        _files = files;
        _fileOfTensor = fileOfTensor;
    }

    public string Directory { get; }
    public IReadOnlyList<SafeTensorsFile> Files => _files;
    public IEnumerable<string> Names => _fileOfTensor.Keys;

    /// <summary>Total bytes of all tensors.</summary>
    public long TotalBytes => _fileOfTensor.Sum(pair => pair.Value.Tensors[pair.Key].ByteLength);

    public static ModelWeights Open(string directory) => Open(directory, null);

    public static ModelWeights Open(string directory, SafeTensorsLimits? limits)
    {
        string indexPath = System.IO.Path.Combine(directory, IndexFileName);
        if (File.Exists(indexPath))
            return OpenSharded(directory, indexPath, limits);
        string singlePath = System.IO.Path.Combine(directory, SingleFileName);
        if (!File.Exists(singlePath))
            throw new FileNotFoundException(
                $"model directory '{directory}' has neither {SingleFileName} nor {IndexFileName}", singlePath);
        var file = SafeTensorsFile.Open(singlePath, limits);
        var byName = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
        foreach (string name in file.Tensors.Keys) byName.Add(name, file);
        return new ModelWeights(directory, [file], byName);
    }

    private static ModelWeights OpenSharded(string directory, string indexPath, SafeTensorsLimits? limits)
    {
        var weightMap = ShardIndex.ReadWeightMap(indexPath);
        var shardNames = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string shard in weightMap.Values)
            if (seen.Add(shard)) shardNames.Add(shard);
        foreach (string shard in shardNames)
            if (!File.Exists(System.IO.Path.Combine(directory, shard)))
                throw new SafeTensorsException(indexPath, null, $"shard '{shard}' named by the index does not exist");

        var files = new List<SafeTensorsFile>();
        try
        {
            var byName = new Dictionary<string, SafeTensorsFile>(StringComparer.Ordinal);
            foreach (string shard in shardNames)
            {
                var file = SafeTensorsFile.Open(System.IO.Path.Combine(directory, shard), limits);
                files.Add(file);
                foreach (string name in file.Tensors.Keys)
                {
                    if (byName.TryGetValue(name, out var other))
                        throw new SafeTensorsException(indexPath, name,
                            $"tensor appears in two shards: '{System.IO.Path.GetFileName(other.Path)}' and '{shard}'");
                    if (!weightMap.TryGetValue(name, out string? listed))
                        throw new SafeTensorsException(indexPath, name, $"shard '{shard}' holds the tensor but the index does not list it");
                    if (listed != shard)
                        throw new SafeTensorsException(indexPath, name, $"index maps the tensor to '{listed}' but it is in '{shard}'");
                    byName.Add(name, file);
                }
            }
            foreach (var (name, shard) in weightMap)
                if (!byName.ContainsKey(name))
                    throw new SafeTensorsException(indexPath, name, $"index maps the tensor to '{shard}' but that shard does not hold it");
            return new ModelWeights(directory, files, byName);
        }
        catch
        {
            foreach (var file in files) file.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => _fileOfTensor.ContainsKey(name);

    public TensorInfo Info(string name) => FileOf(name).Tensors[name];

    /// <summary>Pointer into the mapping of the shard holding the tensor (no copy), valid until Dispose.</summary>
    public unsafe byte* GetPointer(string name) => FileOf(name).GetPointer(name);

    public ReadOnlySpan<byte> GetBytes(string name) => FileOf(name).GetBytes(name);

    public float[] ReadFloat32(string name) => FileOf(name).ReadFloat32(name);

    private SafeTensorsFile FileOf(string name) =>
        _fileOfTensor.TryGetValue(name, out var file)
            ? file
            : throw new KeyNotFoundException($"model '{Directory}' has no tensor '{name}'");

    public void Dispose()
    {
        foreach (var file in _files) file.Dispose();
    }
}
