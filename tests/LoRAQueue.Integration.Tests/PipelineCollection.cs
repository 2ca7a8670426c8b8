namespace LoRAQueue.Integration.Tests;

/// <summary>All pipeline tests share one set of model files and run one at a time (each starts worker processes).</summary>
[CollectionDefinition(Name)]
public sealed class PipelineCollection : ICollectionFixture<ModelFiles>
{
    public const string Name = "pipeline";
}
