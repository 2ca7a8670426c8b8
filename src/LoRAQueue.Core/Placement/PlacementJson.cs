using System.Text.Json;
using System.Text.Json.Serialization;

namespace LoRAQueue.Core.Placement;

/// <summary>(De)serialises snapshots and plans as the snake_case JSON of <c>loraqueue placement plan</c>. Unknown
/// fields are ignored, so heartbeat stores and later versions may add their own.</summary>
public static class PlacementJson
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
        AllowTrailingCommas = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>Reads a snapshot; malformed JSON or a missing required field throws <see cref="PlacementInputException"/>
    /// naming what is wrong. Values are checked when a policy runs.</summary>
    public static LoadSnapshot ReadSnapshot(string json) => Read<LoadSnapshot>(json, "snapshot");

    /// <summary>Reads a plan, e.g. an earlier output passed as <c>--previous</c>.</summary>
    public static PlacementPlan ReadPlan(string json) => Read<PlacementPlan>(json, "plan");

    public static string Write(PlacementPlan plan) => JsonSerializer.Serialize(plan, Options);
    public static string Write(LoadSnapshot snapshot) => JsonSerializer.Serialize(snapshot, Options);

    private static T Read<T>(string json, string what) where T : class
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            return JsonSerializer.Deserialize<T>(json, Options)
                   ?? throw new PlacementInputException($"{what}: the JSON is null");
        }
        catch (JsonException e)
        {
            string where = e.Path is null ? "" : $" at {e.Path}" + (e.LineNumber is { } line ? $" (line {line + 1})" : "");
            throw new PlacementInputException($"{what}: invalid JSON{where}: {e.Message}", e);
        }
    }
}
