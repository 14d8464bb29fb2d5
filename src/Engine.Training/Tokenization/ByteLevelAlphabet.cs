namespace Engine.Training.Tokenization;

/// <summary>GPT-2's byte-level alphabet, in which byte-level BPE vocabularies (GPT-2, Qwen2, Qwen3) write their
/// tokens: each byte is one printable character, printable Latin-1 bytes standing for themselves and the others for
/// U+0100 on, in byte order (so a space is 'Ġ', U+0120). Microsoft.ML.Tokenizers keeps this map to itself.</summary>
internal static class ByteLevelAlphabet
{
    private static readonly Dictionary<char, byte> ByteOf = Build();

    /// <summary>The bytes a vocabulary token stands for.</summary>
    public static byte[] ToBytes(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
        {
            bytes[i] = ByteOf.TryGetValue(token[i], out byte b) ? b
                : throw new TokenizerException($"vocabulary token '{token}' is not written in the byte-level alphabet (character U+{(int)token[i]:X4})");
        }
        return bytes;
    }

    private static Dictionary<char, byte> Build()
    {
        var map = new Dictionary<char, byte>(256);
        int next = 0x100;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[printable ? (char)b : (char)next++] = (byte)b;
        }
        return map;
    }
}
