using System.Text;

namespace LoRAQueue.Formats;

/// <summary>
/// SentencePiece's own decoding of ids (sentencepiece_processor.cc, Decode): pieces concatenated with '▁' read as a space;
/// control pieces are empty; unknown pieces read as the unk surface (" ⁇ "); runs of byte pieces (&lt;0xNN&gt;) are read as
/// UTF-8 with one U+FFFD per byte that does not start a valid character; with add_dummy_prefix (or
/// remove_extra_whitespaces) the leading '▁' is dropped only from the first piece with text, and only when that piece
/// starts with '▁'. Microsoft.ML.Tokenizers drops it from the first '▁' piece even after text (a byte, say), so "^ p"
/// came out as "^p".
/// </summary>
public sealed class SentencePieceDecoder
{
    private const char SpaceSymbol = '\u2581';
    private readonly string[] _pieces;
    private readonly SentencePieceType[] _types;
    private readonly bool _stripsLeadingSpace, _removesExtraWhitespace;
    private readonly string _unknownSurface;

    private SentencePieceDecoder(string[] pieces, SentencePieceType[] types, bool addDummyPrefix, bool removeExtraWhitespaces,
                                 string unknownSurface)
    {
        _pieces = pieces;
        _types = types;
        _stripsLeadingSpace = addDummyPrefix || removeExtraWhitespaces;
        _removesExtraWhitespace = removeExtraWhitespaces;
        _unknownSurface = unknownSurface;
    }

    public int PieceCount => _pieces.Length;

    /// <summary>Reads the pieces and normalizer flags of a serialized ModelProto; null for a model whose whitespace goes
    /// after the piece (treat_whitespace_as_suffix), which this decoder does not cover.</summary>
    public static SentencePieceDecoder? Read(ReadOnlySpan<byte> model)
    {
        var pieces = new List<string>();
        var types = new List<SentencePieceType>();
        bool addDummyPrefix = true, removeExtra = true, suffix = false; // proto2 defaults
        string unknownSurface = " \u2047 ";
        var reader = new ProtoReader(model);
        while (reader.Next(out int field, out int wire))
        {
            if (field == 1 && wire == 2)
            {
                var piece = new ProtoReader(reader.Bytes());
                string text = "";
                var type = SentencePieceType.Normal;
                while (piece.Next(out int f, out int w))
                {
                    if (f == 1 && w == 2) text = Encoding.UTF8.GetString(piece.Bytes());
                    else if (f == 3 && w == 0) type = (SentencePieceType)piece.Varint();
                    else piece.Skip(w);
                }
                pieces.Add(text);
                types.Add(type);
            }
            else if (field == 2 && wire == 2)
            {
                var trainer = new ProtoReader(reader.Bytes());
                while (trainer.Next(out int f, out int w))
                {
                    if (f == 24 && w == 0) suffix = trainer.Varint() != 0;
                    else if (f == 44 && w == 2) unknownSurface = Encoding.UTF8.GetString(trainer.Bytes());
                    else trainer.Skip(w);
                }
            }
            else if (field == 3 && wire == 2)
            {
                var normalizer = new ProtoReader(reader.Bytes());
                while (normalizer.Next(out int f, out int w))
                {
                    if (f == 3 && w == 0) addDummyPrefix = normalizer.Varint() != 0;
                    else if (f == 4 && w == 0) removeExtra = normalizer.Varint() != 0;
                    else normalizer.Skip(w);
                }
            }
            else reader.Skip(wire);
        }
        return suffix ? null : new SentencePieceDecoder([.. pieces], [.. types], addDummyPrefix, removeExtra, unknownSurface);
    }

    /// <summary>The text of <paramref name="ids"/>; ids outside the model's pieces are skipped.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var text = new StringBuilder();
        var bytes = new List<byte>();
        bool atStart = true; // no piece with text yet, and no leading '▁' consumed
        foreach (int id in ids)
        {
            if ((uint)id >= (uint)_pieces.Length) continue;
            if (_types[id] == SentencePieceType.Byte && TryByte(_pieces[id], out byte b))
            {
                bytes.Add(b);
                continue;
            }
            FlushBytes(text, bytes);
            if (atStart && text.Length > 0) atStart = false;
            switch (_types[id])
            {
                case SentencePieceType.Control:
                    continue;
                case SentencePieceType.Unknown:
                    text.Append(_unknownSurface);
                    continue;
            }
            var piece = _pieces[id].AsSpan();
            if (atStart && _stripsLeadingSpace && piece.Length > 0 && piece[0] == SpaceSymbol)
            {
                piece = piece[1..];
                if (_removesExtraWhitespace) piece = piece.TrimStart(SpaceSymbol);
                atStart = false;
            }
            foreach (char c in piece) text.Append(c == SpaceSymbol ? ' ' : c);
        }
        FlushBytes(text, bytes);
        return text.ToString();
    }

    private static bool TryByte(string piece, out byte value)
    {
        value = 0;
        return piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
               && byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out value);
    }

    /// <summary>SentencePiece's DecodeUTF8: a valid (shortest-form, non-surrogate, ≤ U+10FFFF) character, or U+FFFD for
    /// one byte and a retry at the next.</summary>
    private static void FlushBytes(StringBuilder text, List<byte> bytes)
    {
        for (int i = 0; i < bytes.Count;)
        {
            int length = Utf8Length(bytes, i, out int codepoint);
            if (length == 0)
            {
                text.Append('\uFFFD');
                i++;
                continue;
            }
            text.Append(char.ConvertFromUtf32(codepoint));
            i += length;
        }
        bytes.Clear();
    }

    private static int Utf8Length(List<byte> s, int i, out int cp)
    {
        int c = s[i], left = s.Count - i;
        bool Trail(int k) => k < left && (s[i + k] & 0xC0) == 0x80;
        cp = c;
        if (c < 0x80) return 1;
        if ((c & 0xE0) == 0xC0 && Trail(1))
        {
            cp = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F);
            return cp >= 0x80 ? 2 : 0;
        }
        if ((c & 0xF0) == 0xE0 && Trail(1) && Trail(2))
        {
            cp = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
            return cp >= 0x800 && cp is < 0xD800 or > 0xDFFF ? 3 : 0;
        }
        if ((c & 0xF8) == 0xF0 && Trail(1) && Trail(2) && Trail(3))
        {
            cp = ((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) | ((s[i + 2] & 0x3F) << 6) | (s[i + 3] & 0x3F);
            return cp is >= 0x10000 and <= 0x10FFFF ? 4 : 0;
        }
        return 0;
    }

    /// <summary>Just enough protobuf wire format to walk a ModelProto.</summary>
    private ref struct ProtoReader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _at;

        public bool Next(out int field, out int wire)
        {
            field = wire = 0;
            if (_at >= _data.Length) return false;
            ulong key = Varint();
            field = (int)(key >> 3);
            wire = (int)(key & 7);
            return true;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (int shift = 0; ; shift += 7)
            {
                if (_at >= _data.Length || shift > 63) throw new FormatException("truncated SentencePiece model (varint)");
                byte b = _data[_at++];
                value |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return value;
            }
        }

        public ReadOnlySpan<byte> Bytes()
        {
            ulong length = Varint();
            if (length > (ulong)(_data.Length - _at)) throw new FormatException("truncated SentencePiece model (field)");
            var bytes = _data.Slice(_at, (int)length);
            _at += (int)length;
            return bytes;
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: Advance(8); break;
                case 2: Bytes(); break;
                case 5: Advance(4); break;
                default: throw new FormatException($"SentencePiece model: unsupported protobuf wire type {wire}");
            }
        }

        private void Advance(int n)
        {
            if (n > _data.Length - _at) throw new FormatException("truncated SentencePiece model");
            _at += n;
        }
    }
}
