using System.Text.Json;

namespace LoRAQueue.Formats;

/// <summary>Reads <c>model.safetensors.index.json</c>: its <c>weight_map</c> of tensor name → shard file name.</summary>
internal static class ShardIndex
{
    public static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(indexPath), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new SafeTensorsException(indexPath, null, $"shard index is not valid JSON ({e.Message})", e);
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsException(indexPath, null, "shard index is not a JSON object");
            if (!root.TryGetProperty("weight_map", out var weightMap) || weightMap.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsException(indexPath, null, "shard index has no 'weight_map' object");

            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in weightMap.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new SafeTensorsException(indexPath, entry.Name, "weight_map value is not a shard file name string");
                string shard = entry.Value.GetString()!;
                if (shard.Length == 0 || shard != System.IO.Path.GetFileName(shard) || shard is "." or "..")
                    throw new SafeTensorsException(indexPath, entry.Name,
                        $"shard '{shard}' is not a plain file name in the model directory");
                if (!map.TryAdd(entry.Name, shard))
                    throw new SafeTensorsException(indexPath, entry.Name, "weight_map lists the tensor twice");
            }
            if (map.Count == 0)
                throw new SafeTensorsException(indexPath, null, "weight_map is empty");
            return map;
        }
    }
}
