using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace LoRAQueue.Kernels;

/// <summary>A unit of parallel work: <see cref="Execute"/> is called once for each index in [0, count).</summary>
public interface IParallelBody
{
    void Execute(int index);
}

/// <summary>
/// A small persistent pool for kernel parallel-for: ProcessorCount − 1 workers plus the calling thread.
/// A call publishes (function pointer, context, count) under a new generation; participants claim indices
/// with a CAS on one 64-bit word (generation ≪ 32 | next index), so a worker that wakes late can never run
/// an index of a later call. Workers spin briefly after each call, then block on a semaphore.
/// No allocation per call. A call made while the pool is busy (another thread, or nested) runs inline.
/// </summary>
public sealed unsafe class WorkerPool : IDisposable
{
    struct Job
    {
        public delegate*<void*, int, void> Body;
        public void* Context;
        public int Count;
    }

    public static WorkerPool Shared { get; } = new(Environment.ProcessorCount);

    readonly Thread[] _workers;
    readonly SemaphoreSlim[] _wake;
    readonly int[] _sleeping;
    readonly Job[] _jobs = new Job[2];    // indexed by generation & 1: a stale reader never sees a half-written job it can claim
    long _state;                          // generation << 32 | next index
    int _remaining;
    int _busy;
    volatile bool _disposed;
    ExceptionDispatchInfo? _error;

    /// <param name="threads">Total participants including the caller (≥ 1).</param>
    public WorkerPool(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        int workers = threads - 1;
        _workers = new Thread[workers];
        _wake = new SemaphoreSlim[workers];
        _sleeping = new int[workers];
        for (int i = 0; i < workers; i++)
        {
            _wake[i] = new SemaphoreSlim(0);
            int index = i;
            _workers[i] = new Thread(() => WorkerLoop(index)) { IsBackground = true, Name = $"LoRAQueue kernel worker {i}" };
            _workers[i].Start();
        }
    }

    /// <summary>Participants in a call: workers plus the caller.</summary>
    public int ThreadCount => _workers.Length + 1;

    /// <summary>How long an idle worker spins before it blocks; longer hides wake-up latency between back-to-back calls.</summary>
    public TimeSpan SpinBeforeSleep { get; set; } = TimeSpan.FromMicroseconds(200);

    /// <summary>Runs body(context, i) for i in [0, count); returns when all are done; rethrows the first exception.</summary>
    public void Run(int count, delegate*<void*, int, void> body, void* context)
    {
        if (count <= 0) return;
        if (count == 1 || _workers.Length == 0 || Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            for (int i = 0; i < count; i++) body(context, i);
            return;
        }
        try
        {
            uint generation = (uint)(Volatile.Read(ref _state) >> 32) + 1;
            ref Job job = ref _jobs[generation & 1];
            job.Body = body; job.Context = context; job.Count = count;
            Volatile.Write(ref _remaining, count);
            Interlocked.Exchange(ref _state, (long)generation << 32);   // publish (full fence)
            for (int w = 0; w < _sleeping.Length; w++)
                if (Volatile.Read(ref _sleeping[w]) != 0 && Interlocked.Exchange(ref _sleeping[w], 0) != 0)
                    _wake[w].Release();
            Participate(generation, body, context, count);
            var spinner = new SpinWait();
            while (Volatile.Read(ref _remaining) != 0) spinner.SpinOnce(sleep1Threshold: -1);
            var error = Interlocked.Exchange(ref _error, null);
            error?.Throw();
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>
    /// Runs body.Execute(i) for i in [0, count). TBody may be a ref struct holding spans; body must be a local
    /// of the caller (other threads reach it through its address for the duration of the call).
    /// </summary>
    public void Run<TBody>(int count, ref TBody body) where TBody : struct, IParallelBody, allows ref struct
        => Run(count, &Invoke<TBody>, Unsafe.AsPointer(ref body));

    static void Invoke<TBody>(void* context, int index) where TBody : struct, IParallelBody, allows ref struct
        => Unsafe.AsRef<TBody>(context).Execute(index);

    void Participate(uint generation, delegate*<void*, int, void> body, void* context, int count)
    {
        while (true)
        {
            long state = Volatile.Read(ref _state);
            if ((uint)(state >> 32) != generation) return;
            int index = (int)(uint)state;
            if (index >= count) return;
            if (Interlocked.CompareExchange(ref _state, state + 1, state) != state) continue;
            try { body(context, index); }
            catch (Exception e) { Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(e), null); }
            Interlocked.Decrement(ref _remaining);
        }
    }

    void WorkerLoop(int worker)
    {
        uint seen = 0;
        while (!_disposed)
        {
            uint generation = WaitForNewGeneration(worker, seen);
            if (generation == seen) continue;
            seen = generation;
            Job job = _jobs[generation & 1];
            Participate(generation, job.Body, job.Context, job.Count);
        }
    }

    uint WaitForNewGeneration(int worker, uint seen)
    {
        long deadline = Stopwatch.GetTimestamp() + (long)(SpinBeforeSleep.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            for (int i = 0; i < 64; i++)
            {
                uint generation = (uint)(Volatile.Read(ref _state) >> 32);
                if (generation != seen || _disposed) return generation;
                Thread.SpinWait(4);
            }
            if (Stopwatch.GetTimestamp() > deadline) break;
        }
        Interlocked.Exchange(ref _sleeping[worker], 1);   // full fence, pairs with the caller's publish
        uint current = (uint)(Volatile.Read(ref _state) >> 32);
        if (current == seen && !_disposed) _wake[worker].Wait();
        Interlocked.Exchange(ref _sleeping[worker], 0);   // a surplus Release only causes one spurious wake
        return (uint)(Volatile.Read(ref _state) >> 32);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var semaphore in _wake) semaphore.Release();
        foreach (var worker in _workers) worker.Join();
        foreach (var semaphore in _wake) semaphore.Dispose();
    }
}
