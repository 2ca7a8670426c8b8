using LoRAQueue.Core.Placement;

namespace LoRAQueue.LoadState;

// Assembling what a placement policy takes from what the workers and the gateway wrote.
public sealed partial class RedisLoadState
{
    /// <summary>
    /// A <see cref="LoadSnapshot"/> of the live workers and the demand of the last <paramref name="count"/> windows.
    /// Workers that have not measured operating points yet are left out (no policy can size them); adapters the
    /// <paramref name="registry"/> does not know (null) are left out too (nothing to load). Each adapter's
    /// <see cref="AdapterDemand.DemandTps"/> is <paramref name="forecaster"/>'s forecast (default
    /// <see cref="DemandForecaster"/>) from its windows, which the snapshot carries as well.
    /// </summary>
    public async Task<LoadSnapshot> ReadSnapshotAsync(Func<string, AdapterInfo?> registry, TimeSpan window, int count,
                                                      DemandForecaster? forecaster = null, IReadOnlyList<int>? rankBuckets = null,
                                                      DateTimeOffset? now = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        forecaster ??= new DemandForecaster();

        var heartbeats = await GetLiveWorkersAsync().ConfigureAwait(false);
        var workers = new List<WorkerState>(heartbeats.Count);
        foreach (var hb in heartbeats)
        {
            var points = await GetOperatingPointsAsync(hb.Worker).ConfigureAwait(false);
            if (points.Count == 0) continue;
            workers.Add(new WorkerState
            {
                Id = hb.Worker,
                MemoryBytes = hb.MemoryFreeBytes,
                OperatingPoints = points,
                RankQueues = hb.RankBuckets,
                ServesBase = hb.ServesBase,
                ResidentAdapters = hb.ResidentAdapters,
                Epoch = hb.Epoch,
            });
        }

        var adapters = new List<AdapterDemand>();
        foreach (var demand in await GetDemandWindowsAsync(window, count, now).ConfigureAwait(false))
        {
            var info = demand.AdapterId is null ? new AdapterInfo(0, 0) : registry(demand.AdapterId);
            if (info is not { } known) continue;
            adapters.Add(new AdapterDemand
            {
                Id = demand.AdapterId,
                Rank = known.Rank,
                SizeBytes = known.SizeBytes,
                DemandWindows = demand.WindowsTps,
                DemandTps = forecaster.Forecast(demand.WindowsTps),
            });
        }
        return new LoadSnapshot { RankBuckets = rankBuckets, Workers = workers, Adapters = adapters };
    }
}
