using System.Diagnostics;
using LoRAQueue.Core;
using LoRAQueue.Core.Costs;
using LoRAQueue.Core.Placement;

namespace LoRAQueue.Twin;

/// <summary>
/// The digital twin of a fleet: requests arrive on their rank queues, workers with prefetch credit take them (competing
/// consumers, round robin as the broker delivers), make the adapter resident (load time from the options), and run them in
/// their <see cref="SimulatedEngine"/>, each step priced by the cost model. Every <see cref="TwinOptions.CheckSeconds"/>
/// the scheduler's own <see cref="PlacementStep"/> (drift rule, hysteresis, the policy, the diff per worker) decides from
/// the demand admitted so far, and each worker applies its changes: adapters resident first, then the queues switch.
/// </summary>
public sealed class TwinFleet
{
    private static readonly DateTimeOffset Origin = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly TwinOptions _options;
    private readonly EventQueue _clock = new();
    private readonly List<SimulatedWorker> _workers = [];
    private readonly SimulatedWorker[] _consumers;
    private readonly Dictionary<int, Queue<TwinJob>> _queues = []; // by rank bucket; 0 = lora-base
    private readonly Dictionary<int, int> _nextConsumer = [];
    private readonly RankBuckets _buckets = RankBuckets.Default;
    private readonly PlacementStep _step;
    private readonly DemandForecaster _forecaster;
    private readonly Dictionary<string, double[]> _demand = new(StringComparer.Ordinal); // adapter ("" = base) → tokens per demand window
    private readonly Dictionary<string, (int Rank, long Bytes)> _adapters = new(StringComparer.Ordinal);
    private readonly List<TwinJob> _jobs = [];
    private readonly List<TwinPlacement> _placements = [];
    private PlacementMemory _memory = PlacementMemory.None;
    private IReadOnlyDictionary<int, double> _operatingPoints = new Dictionary<int, double>();
    private readonly int _prefetch;
    private int _adapterLoads, _refused, _stepping;

    public TwinFleet(TwinOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Workers);
        _options = options;
        _prefetch = options.Prefetch ?? options.MaxSequences;
        _step = new PlacementStep(PlacementPolicies.Create(options.Policy), new DriftDetector(options.Drift));
        _forecaster = new DemandForecaster(options.DemandWindows);
        _consumers = new SimulatedWorker[options.Workers];
        var all = new HashSet<int>([0, .. _buckets.Boundaries]);
        for (int i = 0; i < options.Workers; i++)
        {
            var engine = new SimulatedEngine(options.KvBlocks, options.BlockSize, options.MaxBatchTokens, options.MaxSequences);
            _workers.Add(new SimulatedWorker($"w{i + 1}", engine, options.MaxResidentAdapters) { Queues = [.. all] }); // every queue until placed
        }
        foreach (var queue in all) _queues[queue] = new Queue<TwinJob>();
    }

    /// <summary>Replays <paramref name="requests"/> (sorted by arrival or not) and reports what happened.</summary>
    public TwinResult Run(IReadOnlyList<TwinRequest> requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var wall = Stopwatch.StartNew();
        foreach (var r in requests.Where(r => r.AdapterId is not null)) _adapters.TryAdd(r.AdapterId!, (r.Rank, r.AdapterBytes));
        _operatingPoints = _options.OperatingPoints ?? OperatingPoints(requests);
        double lastArrival = requests.Count == 0 ? 0 : requests.Max(r => r.ArrivalSeconds);
        int buckets = (int)lastArrival + 2;
        foreach (var r in requests)
        {
            var job = new TwinJob(r);
            _jobs.Add(job);
            _clock.At(r.ArrivalSeconds, () => Arrive(job));
            if (!_demand.TryGetValue(r.AdapterId ?? "", out var series)) _demand[r.AdapterId ?? ""] = series = new double[buckets + 1];
            // What the gateway records at admission, by 1-second bucket; kept as running sums so a window is one subtraction.
            // The scheduler only ever reads buckets that ended before its check, so knowing later ones early changes nothing.
            series[(int)(r.ArrivalSeconds / DemandBucketSeconds) + 1] += r.InputTokens + r.OutputTokens;
        }
        foreach (var series in _demand.Values)
            for (int i = 1; i < series.Length; i++) series[i] += series[i - 1];
        if (_options.PlanUpFront) PlaceUpFront(requests);
        else
            for (double t = _options.CheckSeconds; t <= lastArrival + _options.CheckSeconds; t += _options.CheckSeconds)
                _clock.At(t, Place);
        _clock.Run(lastArrival + _options.DrainSeconds);
        return TwinResult.From(_options, _jobs, _workers, _placements, _adapterLoads, _refused, _clock, wall.Elapsed);
    }

    /// <summary>Demand is kept in 1-second buckets, as the gateway records it in Redis (LoRAQueue:LoadState:DemandBucketSeconds).</summary>
    private const double DemandBucketSeconds = 1;

    private void Arrive(TwinJob job)
    {
        var r = job.Request;
        int bucket = BucketOf(job);
        _queues[bucket].Enqueue(job);
        Dispatch(bucket);
    }

    /// <summary>The broker: the queue's next messages go to its consumers with prefetch credit, in turn.</summary>
    private void Dispatch(int bucket)
    {
        var queue = _queues[bucket];
        while (queue.Count > 0)
        {
            // The consumers with credit, in worker order; the broker serves them in turn.
            int count = 0;
            foreach (var w in _workers)
                if (w.Queues.Contains(bucket) && w.Delivered.GetValueOrDefault(bucket) < w.Prefetch.GetValueOrDefault(bucket, _prefetch) && (_options.MaxBacklog is not { } most || w.Backlog < most))
                    _consumers[count++] = w;
            if (count == 0) return;
            int turn = _nextConsumer.GetValueOrDefault(bucket) % count;
            _nextConsumer[bucket] = turn + 1;
            var worker = _consumers[turn];
            worker.Delivered[bucket] = worker.Delivered.GetValueOrDefault(bucket) + 1;
            Deliver(worker, queue.Dequeue(), bucket);
        }
    }

    private void Deliver(SimulatedWorker worker, TwinJob job, int bucket)
    {
        job.Worker = worker.Id;
        worker.Arriving++;
        var adapter = job.Request.AdapterId;
        if (adapter is null || worker.IsResident(adapter))
        {
            if (adapter is not null) worker.Touch(adapter);
            Start(worker, job, bucket);
            return;
        }
        Load(worker, adapter, () => Start(worker, job, bucket));
    }

    /// <summary>Makes <paramref name="adapter"/> resident on the worker, then runs <paramref name="then"/>; concurrent needs
    /// share one load, from a peer when another worker holds it.</summary>
    private void Load(SimulatedWorker worker, string adapter, Action then)
    {
        if (worker.IsResident(adapter)) { then(); return; }
        if (worker.Loading.TryGetValue(adapter, out var waiting)) { waiting.Add(then); return; }
        worker.Loading[adapter] = [then];
        _adapterLoads++;
        bool fromPeer = _workers.Any(w => w != worker && w.IsResident(adapter));
        double seconds = _options.AdapterLoadSeconds(_adapters.GetValueOrDefault(adapter).Bytes, fromPeer);
        _clock.After(seconds, () =>
        {
            worker.MakeResident(adapter);
            worker.Loading.Remove(adapter, out var done);
            foreach (var action in done!) action();
        });
    }

    private void Start(SimulatedWorker worker, TwinJob job, int bucket)
    {
        if (_options.PickupSeconds > 0 && !job.PickedUp)
        {
            job.PickedUp = true;
            _clock.After(_options.PickupSeconds, () => Start(worker, job, bucket));
            return;
        }
        if (job.Request.AdapterId is { } adapter) worker.Use(adapter);
        worker.Arriving--;
        if (!worker.Engine.Submit(job))
        {
            _refused++;
            Finished(worker, job, bucket);
            return;
        }
        Kick(worker);
    }

    private void Kick(SimulatedWorker worker)
    {
        if (worker.Stepping || !worker.Engine.HasWork) return;
        var shape = worker.Engine.PlanStep();
        if (shape is null) return;
        double seconds = _options.Cost.StepTime(shape, _options.Kernel).TotalSeconds;
        if (_options.ConcurrentSteps is { } shared) seconds *= Math.Max(1, (_stepping + 1) / shared);
        _stepping++;
        worker.Stepping = true;
        worker.BusySeconds += seconds;
        var finished = worker.JobDone ??= job => Finished(worker, job, BucketOf(job));
        _clock.After(seconds, worker.StepDone ??= () =>
        {
            worker.Engine.CompleteStep(_clock.Now, finished);
            worker.Stepping = false;
            _stepping--;
            Kick(worker);
            if (_options.MaxBacklog is not null) PullFor(worker);
        });
    }

    /// <summary>Load-aware credit: the worker's engine took its backlog into a step, so it asks its queues for more, the
    /// queue whose oldest message waited longest first.</summary>
    private void PullFor(SimulatedWorker worker)
    {
        while (worker.Backlog < _options.MaxBacklog)
        {
            int best = -1;
            double oldest = double.MaxValue;
            foreach (int q in worker.Queues)
                if (_queues[q].Count > 0 && _queues[q].Peek().Request.ArrivalSeconds < oldest && worker.Delivered.GetValueOrDefault(q) < worker.Prefetch.GetValueOrDefault(q, _prefetch))
                    (best, oldest) = (q, _queues[q].Peek().Request.ArrivalSeconds);
            if (best < 0) return;
            worker.Delivered[best] = worker.Delivered.GetValueOrDefault(best) + 1;
            Deliver(worker, _queues[best].Dequeue(), best);
        }
    }

    private int BucketOf(TwinJob job) => job.Request.AdapterId is null ? 0 : _buckets.BucketOf(job.Request.Rank);

    /// <summary>The job is done (or refused): its message is acknowledged, freeing the worker's credit on its queue.</summary>
    private void Finished(SimulatedWorker worker, TwinJob job, int bucket)
    {
        if (job.Request.AdapterId is { } adapter) worker.Release(adapter);
        worker.Delivered[bucket] = worker.Delivered.GetValueOrDefault(bucket) - 1;
        Dispatch(bucket);
    }

    /// <summary>The scheduler's check: the real placement step on this moment's snapshot; a placement is applied by each worker.</summary>
    private void Place()
    {
        var now = Origin.AddSeconds(_clock.Now);
        var snapshot = _forecaster.ApplyTo(Snapshot());
        var depths = _queues.ToDictionary(q => RankBuckets.QueueName(q.Key == 0 ? null : q.Key), q => (long)q.Value.Count);
        var outcome = _step.Decide(_memory, snapshot, depths, now);
        if (!outcome.Places) return;
        long epoch = _memory.Epoch + 1;
        _memory = new PlacementMemory(outcome.Plan, epoch, outcome.Signature, now);
        _placements.Add(new TwinPlacement(_clock.Now, epoch, outcome.Drift.Reason.ToString(),
            outcome.Plan!.Workers.ToDictionary(w => w.Id, w => (IReadOnlyList<int>)[.. w.RankQueues])));
        if (_options.WeightedPrefetch) SetPrefetch(outcome.Plan, snapshot);
        foreach (var change in outcome.Changes!) Apply(_workers.Single(w => w.Id == change.Worker), change, epoch);
    }

    /// <summary>`bench placement`'s one placement: the policy on the whole trace's mean demand, applied at once.</summary>
    private void PlaceUpFront(IReadOnlyList<TwinRequest> requests)
    {
        double span = Math.Max(1, requests.Count == 0 ? 1 : requests.Max(r => r.ArrivalSeconds) - requests.Min(r => r.ArrivalSeconds));
        var demand = requests.GroupBy(r => r.AdapterId ?? "").ToDictionary(g => g.Key, g => g.Sum(r => (double)(r.InputTokens + r.OutputTokens)) / span);
        // The workers as their heartbeats report them (the same as the scheduler's checks read), the trace's mean demand.
        var snapshot = Snapshot() with
        {
            Adapters = [.. demand.Select(d => new AdapterDemand
            {
                Id = d.Key == "" ? null : d.Key, Rank = d.Key == "" ? 0 : _adapters[d.Key].Rank, SizeBytes = d.Key == "" ? 0 : _adapters[d.Key].Bytes,
                DemandTps = d.Value,
            })],
        };
        var plan = PlacementPolicies.Create(_options.Policy).Plan(snapshot, previous: null);
        _memory = new PlacementMemory(plan, 1, null, Origin);
        _placements.Add(new TwinPlacement(0, 1, "UpFront", plan.Workers.ToDictionary(w => w.Id, w => (IReadOnlyList<int>)[.. w.RankQueues])));
        foreach (var placement in plan.Workers)
        {
            var worker = _workers.Single(w => w.Id == placement.Id);
            worker.Queues = [.. placement.RankQueues, .. placement.ServesBase ? new[] { 0 } : []];
            foreach (var adapter in placement.Adapters) worker.MakeResident(adapter);
            worker.Epoch = 1;
        }
    }

    /// <summary>Weighted prefetch: each worker's credit on a queue ∝ the share of its planned tokens/s that queue carries.</summary>
    private void SetPrefetch(PlacementPlan plan, LoadSnapshot snapshot)
    {
        var demand = snapshot.Adapters.ToDictionary(a => a.Id ?? "", a => a.DemandWindows is { Count: > 0 } windows ? windows[^1] : 0, StringComparer.Ordinal);
        foreach (var placement in plan.Workers)
        {
            var perQueue = new Dictionary<int, double>();
            foreach (var (adapter, share) in placement.AdapterShares)
            {
                int bucket = _buckets.BucketOf(_adapters[adapter].Rank);
                perQueue[bucket] = perQueue.GetValueOrDefault(bucket) + share * demand.GetValueOrDefault(adapter);
            }
            if (placement.BaseShare is { } b) perQueue[0] = perQueue.GetValueOrDefault(0) + b * demand.GetValueOrDefault("");
            double total = perQueue.Values.Sum();
            var worker = _workers.Single(w => w.Id == placement.Id);
            worker.Prefetch = total <= 0 ? [] : perQueue.ToDictionary(q => q.Key, q => Math.Max(1, (int)Math.Ceiling(_prefetch * q.Value / total)));
        }
    }

    /// <summary>A worker's part: its new adapters resident first (make before break), then the queues switch, then evictions.</summary>
    private void Apply(SimulatedWorker worker, WorkerChanges change, long epoch)
    {
        int pending = change.Load.Count + 1;
        void Switch()
        {
            if (--pending > 0) return;
            var target = new HashSet<int>(change.Target.RankQueues);
            if (change.Target.ServesBase) target.Add(0);
            worker.Queues = target;
            foreach (var adapter in change.Evict) worker.Evict(adapter);
            worker.Epoch = epoch;
            foreach (var bucket in target) Dispatch(bucket);
        }
        foreach (var adapter in change.Load) Load(worker, adapter, Switch);
        Switch();
    }

    /// <summary>The snapshot the scheduler reads: each adapter's last <see cref="TwinOptions.DemandWindows"/> complete windows
    /// of the drift window's length, rolling, ending at the start of the bucket in progress (RedisLoadState's
    /// GetDemandWindowsAsync: the bucket in progress would read low), and every worker as its heartbeat reports it.</summary>
    private LoadSnapshot Snapshot()
    {
        int end = (int)(_clock.Now / DemandBucketSeconds); // exclusive
        int perWindow = Math.Max(1, (int)Math.Round(_options.Drift.Window.TotalSeconds / DemandBucketSeconds));
        int count = _options.DemandWindows;
        var adapters = _demand.Select(d =>
        {
            var sums = d.Value; // sums[i] = tokens of buckets 0 … i−1
            double Upto(int bucket) => sums[Math.Clamp(bucket, 0, sums.Length - 1)];
            var windows = new double[count];
            for (int w = 0; w < count; w++)
            {
                int from = end - perWindow * (count - w), to = from + perWindow;
                windows[w] = (Upto(to) - Upto(from)) / (perWindow * DemandBucketSeconds);
            }
            var info = d.Key == "" ? (Rank: 0, Bytes: 0L) : _adapters[d.Key];
            return new AdapterDemand { Id = d.Key == "" ? null : d.Key, Rank = info.Rank, SizeBytes = info.Bytes, DemandWindows = windows };
        }).ToList();
        var workers = _workers.Select(w => new WorkerState
        {
            Id = w.Id, MemoryBytes = _options.AdapterMemoryBytes, OperatingPoints = _operatingPoints,
            RankQueues = [.. w.Queues.Where(q => q != 0).Order()], ServesBase = w.Queues.Contains(0), ResidentAdapters = [.. w.Resident],
            Epoch = w.Epoch,
        }).ToList();
        return new LoadSnapshot { Workers = workers, Adapters = adapters };
    }

    /// <summary>What a worker's calibration would measure, from the cost model: tokens/s at full batch when the largest
    /// rank it serves is r (decode steps of MaxSequences sequences at the trace's mean context).</summary>
    private IReadOnlyDictionary<int, double> OperatingPoints(IReadOnlyList<TwinRequest> requests)
    {
        long context = requests.Count == 0 ? 256 : (long)requests.Average(r => r.InputTokens + r.OutputTokens / 2.0);
        int batch = _options.MaxSequences;
        var points = new Dictionary<int, double>();
        foreach (int rank in new[] { 0 }.Concat(_buckets.Boundaries))
        {
            var shape = new StepShape(0, batch, batch * context, [new LoraSegment(batch, rank)]);
            points[rank] = batch / Math.Max(1e-9, _options.Cost.StepTime(shape, _options.Kernel).TotalSeconds);
        }
        return points;
    }
}

/// <summary>A placement the twin's scheduler made: when, its epoch, why, and each worker's rank queues.</summary>
public sealed record TwinPlacement(double AtSeconds, long Epoch, string Reason, IReadOnlyDictionary<string, IReadOnlyList<int>> Queues);
