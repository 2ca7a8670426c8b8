// The scheduler host; everything it wires lives in LoRAQueue.Scheduler.Runtime (SchedulerHost), shared with `loraqueue serve`.
return await LoRAQueue.Scheduler.SchedulerHost.RunAsync(args);
