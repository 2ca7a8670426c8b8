// The worker host; everything it wires lives in LoRAQueue.Worker.Runtime (WorkerHost), shared with `loraqueue serve`.
return await LoRAQueue.Worker.WorkerHost.RunAsync(args);
