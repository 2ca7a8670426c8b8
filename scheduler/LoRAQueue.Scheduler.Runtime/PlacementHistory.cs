using System.Text.Json;
using Dapper;
using LoRAQueue.Core.Placement;
using Npgsql;

namespace LoRAQueue.Scheduler;

/// <summary>What a placement was computed from, in short.</summary>
public sealed record PlacementInputs(int Workers, int Adapters, double TotalDemandTps);

/// <summary>One recorded placement (table <c>placements</c>, migrations/0003_placements.sql).</summary>
public sealed record PlacementRecord(long Epoch, string Policy, string Reason, DateTimeOffset CreatedAt, PlacementInputs Inputs,
                                     PlacementPlan Plan, PlacementMoves? Moves);

/// <summary>The placements the scheduler made, in Postgres (Dapper). Plans and moves are stored as the snake_case JSON
/// of <see cref="PlacementJson"/>, so what <c>loraqueue placement show</c> prints matches <c>placement plan</c>.</summary>
public sealed class PlacementHistory(NpgsqlDataSource dataSource)
{
    public async Task RecordAsync(PlacementRecord record, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(record);
        const string sql = """
            INSERT INTO placements (epoch, policy, reason, created_at, inputs, plan, moves)
            VALUES (@Epoch, @Policy, @Reason, @CreatedAt, @Inputs::jsonb, @Plan::jsonb, @Moves::jsonb)
            """;
        await using var connection = await dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
        await connection.ExecuteAsync(new CommandDefinition(sql, new
        {
            record.Epoch,
            record.Policy,
            record.Reason,
            CreatedAt = record.CreatedAt.UtcDateTime,
            Inputs = JsonSerializer.Serialize(record.Inputs, PlacementJson.Options),
            Plan = PlacementJson.Write(record.Plan),
            Moves = record.Moves is null ? null : JsonSerializer.Serialize(record.Moves, PlacementJson.Options),
        }, cancellationToken: ct)).ConfigureAwait(false);
    }

    /// <summary>The placement with the largest epoch; null when none was recorded.</summary>
    public async Task<PlacementRecord?> GetLatestAsync(CancellationToken ct)
    {
        const string sql = """
            SELECT epoch, policy, reason, created_at AS CreatedAt, inputs::text AS Inputs, plan::text AS Plan, moves::text AS Moves
            FROM placements ORDER BY epoch DESC LIMIT 1
            """;
        await using var connection = await dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
        var row = await connection.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(sql, cancellationToken: ct)).ConfigureAwait(false);
        return row?.ToRecord();
    }

    private sealed class Row
    {
        public long Epoch { get; set; }
        public string Policy { get; set; } = "";
        public string Reason { get; set; } = "";
        public DateTime CreatedAt { get; set; }
        public string Inputs { get; set; } = "";
        public string Plan { get; set; } = "";
        public string? Moves { get; set; }

        public PlacementRecord ToRecord() => new(
            Epoch, Policy, Reason, new DateTimeOffset(DateTime.SpecifyKind(CreatedAt, DateTimeKind.Utc)),
            JsonSerializer.Deserialize<PlacementInputs>(Inputs, PlacementJson.Options)
                ?? throw new InvalidDataException($"placement {Epoch}: inputs JSON is null"),
            PlacementJson.ReadPlan(Plan),
            Moves is null ? null : JsonSerializer.Deserialize<PlacementMoves>(Moves, PlacementJson.Options));
    }
}
