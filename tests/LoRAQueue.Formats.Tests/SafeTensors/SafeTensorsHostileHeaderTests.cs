namespace LoRAQueue.Formats.Tests.SafeTensors;

/// <summary>Malformed files built byte by byte: each must fail with a SafeTensorsException naming file, tensor and reason.</summary>
public sealed class SafeTensorsHostileHeaderTests : IDisposable
{
    private readonly ScratchDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private SafeTensorsException OpenFails(byte[] bytes, SafeTensorsLimits? limits = null)
    {
        string path = _dir.File("hostile.safetensors");
        File.WriteAllBytes(path, bytes);
        var error = Assert.Throws<SafeTensorsException>(() => SafeTensorsFile.Open(path, limits)?.Dispose());
        Assert.Contains(path, error.Message);
        Assert.Equal(path, error.FilePath);
        return error;
    }

    private SafeTensorsException HeaderFails(string header, int dataBytes, string expectedTensor, string expectedReason)
    {
        var error = OpenFails(RawSafeTensors.Build(header, dataBytes));
        Assert.Equal(expectedTensor, error.TensorName);
        Assert.Contains($"tensor '{expectedTensor}'", error.Message);
        Assert.Contains(expectedReason, error.Message);
        return error;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(7)]
    public void Truncated_file_shorter_than_the_length_prefix(int length)
    {
        var error = OpenFails(new byte[length]);
        Assert.Contains($"file is {length} bytes, shorter than the 8-byte header length", error.Message);
    }

    [Fact]
    public void Header_length_past_the_end_of_the_file()
    {
        var error = OpenFails(RawSafeTensors.Build("{}", 0, declaredHeaderLength: 1000));
        Assert.Contains("header length 1000 runs past the end of the file (10 bytes)", error.Message);
    }

    [Fact]
    public void Header_length_of_ulong_max_does_not_overflow()
    {
        var error = OpenFails(RawSafeTensors.Build("{}", 0, declaredHeaderLength: ulong.MaxValue));
        Assert.Contains("runs past the end of the file", error.Message);
    }

    [Fact]
    public void Header_length_above_the_limit()
    {
        string header = """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""";
        var error = OpenFails(RawSafeTensors.Build(header, 4), new SafeTensorsLimits { MaxHeaderBytes = 16 });
        Assert.Contains($"header length {header.Length} exceeds the limit of 16 bytes", error.Message);
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",", "header is not valid JSON")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} trailing", "header is not valid JSON")]
    [InlineData("[1,2,3]", "header is not a JSON object")]
    [InlineData("", "header is empty")]
    [InlineData("\"text\"", "header is not a JSON object")]
    public void Header_that_is_not_a_json_object(string header, string reason)
    {
        var error = OpenFails(RawSafeTensors.Build(header, 4));
        Assert.Null(error.TensorName);
        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void Invalid_utf8_in_a_name_is_reported_as_bad_json()
    {
        byte[] bytes = RawSafeTensors.Build("{\"\u00e9\":{}}", 0);
        bytes[10] = 0xFF; // break the two-byte é sequence
        Assert.Contains("header is not valid JSON", OpenFails(bytes).Message);
    }

    [Fact]
    public void Unknown_dtype() =>
        HeaderFails("""{"w":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}}""", 4, "w", "unsupported dtype 'I8' (supported: F32, F16, BF16)");

    [Fact]
    public void Data_offsets_past_the_end_of_the_data() =>
        HeaderFails("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 12, "w",
                    "data_offsets [0, 16] run past the end of the data section (12 bytes)");

    [Fact]
    public void Data_offsets_begin_after_end() =>
        HeaderFails("""{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}}""", 8, "w", "data_offsets begin 8 is after end 4");

    [Fact]
    public void Overlapping_tensors_are_found_whatever_their_order_in_the_header()
    {
        string header = """{"late":{"dtype":"F32","shape":[2],"data_offsets":[12,20]},"early":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""";
        HeaderFails(header, 20, "late", "data_offsets [12, 20] overlap tensor 'early' at [0, 16]");
    }

    [Fact]
    public void Shape_times_dtype_size_differs_from_the_byte_length() =>
        HeaderFails("""{"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,24]}}""", 24, "w",
                    "shape [2, 3] of BF16 needs 12 bytes but data_offsets span 24");

    [Fact]
    public void Shape_whose_byte_count_overflows() =>
        HeaderFails("""{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}""", 4, "w",
                    "overflows a 64-bit byte count");

    [Fact]
    public void Negative_dimension() =>
        HeaderFails("""{"w":{"dtype":"F32","shape":[-1,-4],"data_offsets":[0,16]}}""", 16, "w", "shape holds the negative value -1");

    [Fact]
    public void Rank_above_the_limit() =>
        HeaderFails("""{"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}""", 4, "w",
                    "rank exceeds the limit of 8 dimensions");

    [Fact]
    public void Duplicate_tensor_names() =>
        HeaderFails("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""",
                    8, "w", "duplicate name in header");

    [Theory]
    [InlineData("""{"w":{"dtype":7,"shape":[1],"data_offsets":[0,4]}}""", "dtype must be a string")]
    [InlineData("""{"w":{"dtype":"F32","shape":"1","data_offsets":[0,4]}}""", "shape must be an array of integers")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}""", "shape must hold only integers")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}""", "data_offsets must hold exactly two integers")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}""", "data_offsets holds more than 2 values")]
    [InlineData("""{"w":{"dtype":"F32","data_offsets":[0,4]}}""", "missing field 'shape'")]
    [InlineData("""{"w":[1,2]}""", "entry is StartArray, not an object")]
    public void Fields_of_the_wrong_type_or_missing(string header, string reason) => HeaderFails(header, 4, "w", reason);

    [Theory]
    [InlineData("""{"__metadata__":{"format":1}}""", "__metadata__ value of 'format' is Number, not a string")]
    [InlineData("""{"__metadata__":["pt"]}""", "__metadata__ must be an object mapping strings to strings")]
    [InlineData("""{"__metadata__":{"a":"x","a":"y"}}""", "__metadata__ has the key 'a' twice")]
    public void Metadata_that_is_not_a_string_map(string header, string reason)
    {
        var error = OpenFails(RawSafeTensors.Build(header, 0));
        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void Too_many_tensors_for_the_limit()
    {
        string header = """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""";
        var error = OpenFails(RawSafeTensors.Build(header, 8), new SafeTensorsLimits { MaxTensors = 1 });
        Assert.Contains("more than 1 tensors", error.Message);
    }

    [Fact]
    public void Unknown_fields_are_ignored_and_a_padded_header_is_accepted()
    {
        string path = _dir.File("padded.safetensors");
        string header = """{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4],"extra":{"x":[1]}}}   """;
        File.WriteAllBytes(path, RawSafeTensors.Build(header, 4));
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(2, file.Tensors["w"].ElementCount);
        Assert.Equal(8 + header.Length, file.Tensors["w"].DataOffset);
    }
}
