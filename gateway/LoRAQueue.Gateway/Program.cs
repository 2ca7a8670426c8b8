return await LoRAQueue.Gateway.GatewayApplication.RunAsync(args);
