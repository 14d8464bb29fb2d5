using System.Buffers;
using System.Text;
using System.Text.Unicode;

namespace Engine.Core.Text;

/// <summary>A text input (JSONL data, YAML config, tokenizer.json, config.json) is not valid UTF-8.</summary>
public sealed class InvalidTextException : EngineException
{
    /// <summary>Invalid UTF-8 byte <paramref name="value"/> at <paramref name="byteOffset"/>, on <paramref name="line"/> of <paramref name="path"/>.</summary>
    public InvalidTextException(string path, long line, long byteOffset, byte value)
        : base($"{path}: line {line}, byte offset {byteOffset}: invalid UTF-8 (byte 0x{value:X2}); text inputs must be UTF-8")
    {
        FilePath = path;
        Line = line;
        ByteOffset = byteOffset;
    }

    /// <summary>The file.</summary>
    public string FilePath { get; }

    /// <summary>1-based line of the first bad byte.</summary>
    public long Line { get; }

    /// <summary>0-based offset of the first bad byte in the file.</summary>
    public long ByteOffset { get; }
}

/// <summary>Decodes text inputs strictly: .NET's readers replace invalid UTF-8 with U+FFFD, which let a corrupt
/// data row train silently on replacement characters. Here the first invalid byte is an error naming the file,
/// its line and its byte offset. A leading UTF-8 byte order mark is skipped, as the framework's readers do.</summary>
public static class StrictUtf8
{
    private static ReadOnlySpan<byte> Bom => [0xEF, 0xBB, 0xBF];

    /// <summary>Reads a whole (small) text file.</summary>
    public static string ReadFile(string path) => Decode(path, File.ReadAllBytes(path));

    /// <summary>Reads a whole (small) file's bytes, checked, for parsers that take UTF-8 bytes (JSON).</summary>
    public static byte[] ReadBytes(string path)
    {
        var bytes = File.ReadAllBytes(path);
        int skip = bytes.AsSpan().StartsWith(Bom) ? Bom.Length : 0;
        Validate(path, bytes.AsSpan(skip), skip, 1);
        return bytes;
    }

    /// <summary>Decodes a whole file's bytes.</summary>
    public static string Decode(string path, ReadOnlySpan<byte> bytes)
    {
        int skip = bytes.StartsWith(Bom) ? Bom.Length : 0;
        Validate(path, bytes[skip..], skip, 1);
        return Encoding.UTF8.GetString(bytes[skip..]);
    }

    /// <summary>The lines of a file, streamed (data files may be far larger than memory wants as one string),
    /// each with its 1-based number; <c>\n</c> and <c>\r\n</c> both end a line.</summary>
    public static IEnumerable<(int Number, string Text)> ReadLines(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var pending = new ArrayBufferWriter<byte>();
        var chunk = new byte[1 << 16];
        long lineStart = 0;
        int number = 0;
        bool first = true;
        for (int n; (n = stream.Read(chunk)) > 0;)
        {
            // Indices, not spans: a span cannot live across a yield.
            for (int at = 0, newline; at < n; at = newline + 1)
            {
                newline = chunk.AsSpan(at, n - at).IndexOf((byte)'\n');
                if (newline < 0)
                {
                    pending.Write(chunk.AsSpan(at, n - at));
                    break;
                }
                newline += at;
                pending.Write(chunk.AsSpan(at, newline - at));
                yield return (++number, Line(path, pending, ref first, ref lineStart, number, newline: true));
            }
        }
        if (pending.WrittenCount > 0) yield return (++number, Line(path, pending, ref first, ref lineStart, number, newline: false));
    }

    private static string Line(string path, ArrayBufferWriter<byte> pending, ref bool first, ref long lineStart, int number, bool newline)
    {
        var bytes = pending.WrittenSpan;
        int skip = first && bytes.StartsWith(Bom) ? Bom.Length : 0;
        first = false;
        Validate(path, bytes[skip..], lineStart + skip, number);
        var text = bytes[skip..];
        if (!text.IsEmpty && text[^1] == (byte)'\r') text = text[..^1];
        string result = Encoding.UTF8.GetString(text);
        lineStart += bytes.Length + (newline ? 1 : 0);
        pending.ResetWrittenCount();
        return result;
    }

    /// <summary>Throws at the first invalid sequence; <paramref name="offset"/> and <paramref name="line"/> are
    /// where <paramref name="bytes"/> start in the file.</summary>
    private static void Validate(string path, ReadOnlySpan<byte> bytes, long offset, long line)
    {
        if (Utf8.IsValid(bytes)) return;
        var chars = ArrayPool<char>.Shared.Rent(Math.Min(bytes.Length, 1 << 16));
        try
        {
            for (var rest = bytes; ;)
            {
                // Valid as a whole was ruled out above, so this ends at InvalidData.
                if (Utf8.ToUtf16(rest, chars, out int read, out _, replaceInvalidSequences: false) == OperationStatus.InvalidData)
                {
                    int bad = bytes.Length - rest.Length + read;
                    throw new InvalidTextException(path, line + bytes[..bad].Count((byte)'\n'), offset + bad, bytes[bad]);
                }
                rest = rest[read..];
            }
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }
}
