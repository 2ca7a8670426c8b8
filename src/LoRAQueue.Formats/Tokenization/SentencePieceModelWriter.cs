using System.Buffers.Binary;
using System.Text;

namespace LoRAQueue.Formats;

/// <summary>ModelProto.SentencePiece.Type in sentencepiece_model.proto.</summary>
public enum SentencePieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

public readonly record struct SentencePiece(string Piece, float Score, SentencePieceType Type);

/// <summary>The parts of a SentencePiece BPE model that this writer emits.</summary>
public sealed record SentencePieceModelSpec(IReadOnlyList<SentencePiece> Pieces)
{
    public int UnkId { get; init; }
    public int BosId { get; init; } = 1;
    public int EosId { get; init; } = 2;
    public int PadId { get; init; } = -1;
    public bool ByteFallback { get; init; } = true;
    public bool AddDummyPrefix { get; init; } = true;
    public bool RemoveExtraWhitespaces { get; init; }
}

/// <summary>
/// Writes a SentencePiece <c>tokenizer.model</c> (a serialized ModelProto) by hand, so that no protobuf
/// package is needed. Field numbers follow sentencepiece_model.proto: ModelProto{pieces=1, trainer_spec=2,
/// normalizer_spec=3}, SentencePiece{piece=1, score=2, type=3}, TrainerSpec{model_type=3, vocab_size=4,
/// byte_fallback=35, unk_id=40, bos_id=41, eos_id=42, pad_id=43}, NormalizerSpec{name=1,
/// add_dummy_prefix=3, remove_extra_whitespaces=4, escape_whitespaces=5}.
/// </summary>
public static class SentencePieceModelWriter
{
    private const int WireVarint = 0, WireFixed32 = 5, WireLengthDelimited = 2;
    private const int ModelTypeBpe = 2;

    public static void Write(string path, SentencePieceModelSpec model) => File.WriteAllBytes(path, Serialize(model));

    public static byte[] Serialize(SentencePieceModelSpec model)
    {
        ArgumentNullException.ThrowIfNull(model);
        Validate(model);
        var output = new MemoryStream();
        foreach (var piece in model.Pieces)
            WriteMessage(output, 1, SerializePiece(piece));
        WriteMessage(output, 2, SerializeTrainerSpec(model));
        WriteMessage(output, 3, SerializeNormalizerSpec(model));
        return output.ToArray();
    }

    private static void Validate(SentencePieceModelSpec model)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var piece in model.Pieces)
        {
            if (string.IsNullOrEmpty(piece.Piece)) throw new ArgumentException("a SentencePiece piece must not be empty");
            if (!seen.Add(piece.Piece)) throw new ArgumentException($"duplicate SentencePiece piece '{piece.Piece}'");
        }
        foreach (var (name, id) in new[] { ("unk", model.UnkId), ("bos", model.BosId), ("eos", model.EosId), ("pad", model.PadId) })
            if (id < -1 || id >= model.Pieces.Count || (name == "unk" && id < 0))
                throw new ArgumentException($"{name}_id {id} is outside the {model.Pieces.Count} pieces");
    }

    private static byte[] SerializePiece(SentencePiece piece)
    {
        var m = new MemoryStream();
        WriteBytes(m, 1, Encoding.UTF8.GetBytes(piece.Piece));
        WriteFloat(m, 2, piece.Score);
        WriteVarintField(m, 3, (ulong)piece.Type);
        return m.ToArray();
    }

    private static byte[] SerializeTrainerSpec(SentencePieceModelSpec model)
    {
        var m = new MemoryStream();
        WriteVarintField(m, 3, ModelTypeBpe);
        WriteVarintField(m, 4, (ulong)model.Pieces.Count);
        WriteVarintField(m, 35, model.ByteFallback ? 1UL : 0UL);
        WriteInt32(m, 40, model.UnkId);
        WriteInt32(m, 41, model.BosId);
        WriteInt32(m, 42, model.EosId);
        WriteInt32(m, 43, model.PadId);
        return m.ToArray();
    }

    private static byte[] SerializeNormalizerSpec(SentencePieceModelSpec model)
    {
        var m = new MemoryStream();
        WriteBytes(m, 1, "identity"u8.ToArray());
        // proto2 defaults of fields 3 and 4 are true, so both are always written explicitly.
        WriteVarintField(m, 3, model.AddDummyPrefix ? 1UL : 0UL);
        WriteVarintField(m, 4, model.RemoveExtraWhitespaces ? 1UL : 0UL);
        WriteVarintField(m, 5, 1);
        return m.ToArray();
    }

    private static void WriteMessage(Stream s, int field, byte[] message) => WriteBytes(s, field, message);

    private static void WriteBytes(Stream s, int field, byte[] bytes)
    {
        WriteTag(s, field, WireLengthDelimited);
        WriteVarint(s, (ulong)bytes.Length);
        s.Write(bytes);
    }

    private static void WriteFloat(Stream s, int field, float value)
    {
        WriteTag(s, field, WireFixed32);
        Span<byte> buffer = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(buffer, value);
        s.Write(buffer);
    }

    // int32 fields encode negatives as 10-byte two's-complement varints.
    private static void WriteInt32(Stream s, int field, int value) => WriteVarintField(s, field, unchecked((ulong)(long)value));

    private static void WriteVarintField(Stream s, int field, ulong value)
    {
        WriteTag(s, field, WireVarint);
        WriteVarint(s, value);
    }

    private static void WriteTag(Stream s, int field, int wireType) => WriteVarint(s, ((ulong)field << 3) | (uint)wireType);

    private static void WriteVarint(Stream s, ulong value)
    {
        while (value >= 0x80)
        {
            s.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        s.WriteByte((byte)value);
    }
}
