using LoRAQueue.Contracts;
using LoRAQueue.Core;
using LoRAQueue.Messaging;
using LoRAQueue.Worker;
using MassTransit;

namespace LoRAQueue.InProcess;

/// <summary>
/// Competing consumers on MassTransit's in-memory transport. There a bus holds one receive endpoint per queue name
/// (a second <see cref="RankQueueEndpoints"/> on lora-rank-8 fails: "A receive endpoint with the same key was already
/// added"), and the transport is single-bus, so workers in one process cannot each connect their own endpoint to a
/// shared queue as separate processes do on RabbitMQ. replicate-all needs exactly that. So each rank queue gets one
/// endpoint configured as <see cref="RankQueueEndpoints"/> configures a worker's (raw JSON, the same retry), whose
/// concurrency is the sum of its consumers' prefetch, and each delivery is handed to the real
/// <see cref="SubmitJobConsumer"/> of one worker consuming that queue: round-robin among those with a free prefetch
/// slot, which is how RabbitMQ spreads a queue over consumers that each have a prefetch window. Same code for both
/// policies; for loraserve most queues simply have one consumer.
/// </summary>
internal sealed class SharedRankQueues(IReceiveEndpointConnector connector, IRankQueueDeclarer declarer)
{
    private readonly List<HostReceiveEndpointHandle> _handles = [];

    /// <param name="consumers">Queue name (lora-rank-8) → the workers consuming it.</param>
    public async Task ConnectAsync(IReadOnlyDictionary<string, IReadOnlyList<FleetWorker>> consumers, CancellationToken ct)
    {
        foreach (var (queue, workers) in consumers)
        {
            if (workers.Count == 0) continue;
            await declarer.EnsureQueueAsync(queue, ct);
            var dispatch = new QueueDispatch(workers);
            var handle = connector.ConnectReceiveEndpoint(queue, (_, endpoint) =>
            {
                endpoint.ConfigureConsumeTopology = false;
                declarer.ConfigureEndpoint(endpoint);
                endpoint.UseRawJsonDeserializer(RawSerializerOptions.All, isDefault: true);
                endpoint.PrefetchCount = dispatch.Slots;
                endpoint.ConcurrentMessageLimit = dispatch.Slots;
                // A registry or broker outage is waited out with the job on hand; a job's own problems are JobFailed events, not exceptions.
                endpoint.UseMessageRetry(OutageRetry.Configure);
                endpoint.Consumer(() => new DispatchingConsumer(dispatch));
            });
            _handles.Add(handle);
            await handle.Ready.WaitAsync(ct);
        }
    }

    /// <summary>No new deliveries; returns when in-flight jobs finished or <paramref name="ct"/> fires.</summary>
    public async Task StopAllAsync(CancellationToken ct)
    {
        foreach (var handle in _handles) await handle.StopAsync(ct);
        _handles.Clear();
    }

    /// <summary>One queue's consumers, each with a prefetch window of its MaxSequences (as RankQueueEndpoints sets it).</summary>
    private sealed class QueueDispatch
    {
        private readonly IReadOnlyList<FleetWorker> _workers;
        private readonly int[] _inFlight;
        private readonly SemaphoreSlim _free;
        private readonly Lock _lock = new();
        private int _next;

        public QueueDispatch(IReadOnlyList<FleetWorker> workers)
        {
            _workers = workers;
            _inFlight = new int[workers.Count];
            Slots = workers.Sum(w => w.Node.Settings.MaxSequences);
            _free = new SemaphoreSlim(Slots, Slots);
        }

        public int Slots { get; }

        public async Task<int> AcquireAsync(CancellationToken ct)
        {
            await _free.WaitAsync(ct);
            lock (_lock)
            {
                for (int k = 0; k < _workers.Count; k++)
                {
                    int i = (_next + k) % _workers.Count;
                    if (_inFlight[i] >= _workers[i].Node.Settings.MaxSequences) continue;
                    _inFlight[i]++;
                    _next = (i + 1) % _workers.Count;
                    return i;
                }
            }
            throw new InvalidOperationException("a free dispatch slot had no worker: the slot count is out of step");
        }

        public void Release(int worker)
        {
            lock (_lock) _inFlight[worker]--;
            _free.Release();
        }

        public FleetWorker this[int i] => _workers[i];
    }

    private sealed class DispatchingConsumer(QueueDispatch dispatch) : IConsumer<SubmitJob>
    {
        public async Task Consume(ConsumeContext<SubmitJob> context)
        {
            int worker = await dispatch.AcquireAsync(context.CancellationToken);
            try
            {
                await dispatch[worker].Node.CreateConsumer().Consume(context);
            }
            finally
            {
                dispatch.Release(worker);
            }
        }
    }
}
