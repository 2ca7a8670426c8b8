using LoRAQueue.Formats.Tests.Synthetic;

namespace LoRAQueue.Formats.Tests.Peft;

/// <summary>An adapter loaded from its files' bytes in memory (a host-cache slot) is the adapter loaded from its directory.</summary>
public sealed unsafe class AdapterImageTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>, IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private (AdapterManifest Manifest, byte[] Bytes) Image(string name, int rank)
    {
        SyntheticAdapter.Create(tiny.Directory, rank, null, _dir.Combine(name), seed: 11);
        var manifest = AdapterManifest.Compute(_dir.Combine(name));
        var files = AdapterImage.Layout(manifest.Files).SelectMany(f => File.ReadAllBytes(Path.Combine(_dir.Combine(name), f.Path))).ToArray();
        var bytes = GC.AllocateArray<byte>(files.Length, pinned: true); // never moves, like a host-cache slot
        files.CopyTo(bytes, 0);
        return (manifest, bytes);
    }

    [Fact]
    public void Loading_from_memory_gives_the_same_modules_as_loading_from_the_directory()
    {
        var (manifest, bytes) = Image("r16", 16);
        var config = ModelConfig.Load(tiny.Directory);
        var fromDisk = LoraAdapter.Load(_dir.Combine("r16"), config);

        var fromMemory = LoraAdapter.Load(new AdapterImage("r16", Start(bytes), manifest.Files), config);

        Assert.Equal(fromDisk.MaxRank, fromMemory.MaxRank);
        Assert.Equal(fromDisk.Modules.Select(m => (m.Layer, m.Module, m.Rank, m.Scale)), fromMemory.Modules.Select(m => (m.Layer, m.Module, m.Rank, m.Scale)));
        Assert.All(fromDisk.Modules.Zip(fromMemory.Modules), p => Assert.Equal(p.First.A, p.Second.A));
    }

    [Fact]
    public void An_image_without_the_weights_file_says_which_file_is_missing()
    {
        var (manifest, bytes) = Image("r8", 8);
        var configOnly = manifest.Files.Where(f => f.Path == LoraAdapter.ConfigFileName).ToList();

        var image = new AdapterImage("r8", Start(bytes), configOnly);
        var e = Assert.Throws<AdapterFormatException>(() => LoraAdapter.Load(image, ModelConfig.Load(tiny.Directory)));
        Assert.Contains("has no adapter_model.safetensors", e.Message);
    }

    private static byte* Start(byte[] pinned) => (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref pinned[0]);
}
