using System.Text.Json;

namespace LoRAQueue.Formats.Tests.SafeTensors;

public sealed class ModelWeightsTests : IDisposable
{
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static TensorToWrite Tensor(string name, float first, int count = 4) =>
        TensorToWrite.FromFloat32(name, Enumerable.Range(0, count).Select(i => first + i).ToArray(), [count], DType.F32);

    private void WriteShard(string file, params TensorToWrite[] tensors) => SafeTensorsWriter.Write(_dir.File(file), tensors);

    private void WriteIndex(Dictionary<string, string> weightMap) =>
        File.WriteAllText(_dir.File("model.safetensors.index.json"),
            JsonSerializer.Serialize(new { metadata = new { total_size = 64 }, weight_map = weightMap }));

    private void WriteTwoShards()
    {
        WriteShard("model-00001-of-00002.safetensors", Tensor("model.embed_tokens.weight", 10), Tensor("model.norm.weight", 20));
        WriteShard("model-00002-of-00002.safetensors", Tensor("lm_head.weight", 30, 8));
    }

    private SafeTensorsException OpenFails()
    {
        var error = Assert.Throws<SafeTensorsException>(() => ModelWeights.Open(_dir.Path).Dispose());
        Assert.Contains("model.safetensors.index.json", error.Message);
        return error;
    }

    [Fact]
    public unsafe void Single_file_model_exposes_every_tensor()
    {
        WriteShard("model.safetensors", Tensor("a", 1), Tensor("b", 5));
        using var weights = ModelWeights.Open(_dir.Path);
        Assert.Equal(["a", "b"], weights.Names.Order());
        Assert.True(weights.Contains("a"));
        Assert.False(weights.Contains("c"));
        Assert.Equal([5f, 6f, 7f, 8f], weights.ReadFloat32("b"));
        Assert.Equal(2f, ((float*)weights.GetPointer("a"))[1]);
        Assert.Throws<KeyNotFoundException>(() => weights.Info("c"));
    }

    [Fact]
    public unsafe void Sharded_model_resolves_each_tensor_in_its_own_shard()
    {
        WriteTwoShards();
        WriteIndex(new()
        {
            ["model.embed_tokens.weight"] = "model-00001-of-00002.safetensors",
            ["model.norm.weight"] = "model-00001-of-00002.safetensors",
            ["lm_head.weight"] = "model-00002-of-00002.safetensors",
        });

        using var weights = ModelWeights.Open(_dir.Path);
        Assert.Equal(3, weights.Names.Count());
        Assert.Equal(2, weights.Files.Count);
        Assert.Equal([30f, 31f, 32f, 33f, 34f, 35f, 36f, 37f], weights.ReadFloat32("lm_head.weight"));
        Assert.Equal(20f, *(float*)weights.GetPointer("model.norm.weight"));
        Assert.Equal(8, weights.Info("lm_head.weight").ElementCount);
        Assert.Equal(64, weights.TotalBytes);
    }

    [Fact]
    public void Index_naming_a_shard_that_does_not_exist()
    {
        WriteTwoShards();
        WriteIndex(new() { ["lm_head.weight"] = "model-00003-of-00003.safetensors" });
        Assert.Contains("shard 'model-00003-of-00003.safetensors' named by the index does not exist", OpenFails().Message);
    }

    [Fact]
    public void Tensor_name_duplicated_across_shards()
    {
        WriteShard("a.safetensors", Tensor("model.norm.weight", 1));
        WriteShard("b.safetensors", Tensor("model.norm.weight", 2), Tensor("lm_head.weight", 3));
        WriteIndex(new() { ["model.norm.weight"] = "a.safetensors", ["lm_head.weight"] = "b.safetensors" });
        var error = OpenFails();
        Assert.Equal("model.norm.weight", error.TensorName);
        Assert.Contains("tensor appears in two shards: 'a.safetensors' and 'b.safetensors'", error.Message);
    }

    [Fact]
    public void Shard_holding_a_tensor_the_index_does_not_list()
    {
        WriteTwoShards();
        WriteIndex(new()
        {
            ["model.embed_tokens.weight"] = "model-00001-of-00002.safetensors",
            ["lm_head.weight"] = "model-00002-of-00002.safetensors",
        });
        var error = OpenFails();
        Assert.Contains("tensor 'model.norm.weight': shard 'model-00001-of-00002.safetensors' holds the tensor but the index does not list it",
                        error.Message);
    }

    [Fact]
    public void Index_listing_a_tensor_its_shard_does_not_hold()
    {
        WriteTwoShards();
        WriteIndex(new()
        {
            ["model.embed_tokens.weight"] = "model-00001-of-00002.safetensors",
            ["model.norm.weight"] = "model-00001-of-00002.safetensors",
            ["lm_head.weight"] = "model-00002-of-00002.safetensors",
            ["model.layers.0.mlp.up_proj.weight"] = "model-00002-of-00002.safetensors",
        });
        Assert.Contains("index maps the tensor to 'model-00002-of-00002.safetensors' but that shard does not hold it", OpenFails().Message);
    }

    [Fact]
    public void Index_mapping_a_tensor_to_the_wrong_shard()
    {
        WriteTwoShards();
        WriteIndex(new()
        {
            ["model.embed_tokens.weight"] = "model-00001-of-00002.safetensors",
            ["model.norm.weight"] = "model-00002-of-00002.safetensors",
            ["lm_head.weight"] = "model-00002-of-00002.safetensors",
        });
        Assert.Contains("index maps the tensor to 'model-00002-of-00002.safetensors' but it is in 'model-00001-of-00002.safetensors'",
                        OpenFails().Message);
    }

    [Theory]
    [InlineData("../outside.safetensors")]
    [InlineData("/etc/passwd")]
    public void Index_shard_names_cannot_leave_the_model_directory(string shard)
    {
        WriteIndex(new() { ["lm_head.weight"] = shard });
        Assert.Contains("is not a plain file name in the model directory", OpenFails().Message);
    }

    [Theory]
    [InlineData("{\"weight_map\": ")]
    [InlineData("{\"metadata\": {}}")]
    [InlineData("{\"weight_map\": {\"a\": 3}}")]
    [InlineData("{\"weight_map\": {\"a\": \"x.safetensors\", \"a\": \"y.safetensors\"}}")]
    public void Malformed_index_files(string json)
    {
        File.WriteAllText(_dir.File("model.safetensors.index.json"), json);
        OpenFails();
    }

    [Fact]
    public void Directory_without_weights()
    {
        var error = Assert.Throws<FileNotFoundException>(() => ModelWeights.Open(_dir.Path));
        Assert.Contains("neither model.safetensors nor model.safetensors.index.json", error.Message);
    }
}
