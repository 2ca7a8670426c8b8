// The gateway host; everything it runs lives in LoRAQueue.Gateway.Runtime (GatewayApplication), shared with `loraqueue serve`.
return await LoRAQueue.Gateway.GatewayApplication.RunAsync(args);
