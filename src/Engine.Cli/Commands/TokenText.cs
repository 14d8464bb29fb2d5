using System.Buffers;
using System.Globalization;
using System.Text;

namespace Engine.Cli.Commands;

/// <summary>How <c>engine tokenize</c> writes one token: its bytes decoded as UTF-8, with each byte that is not part
/// of a whole character written <c>\xNN</c> (byte-level BPE cuts many characters, CJK and emoji among them, into
/// several tokens).</summary>
internal static class TokenText
{
    /// <summary>The token's text; with <paramref name="escape"/> (the human view) also backslash, line breaks, tabs
    /// and other control characters as C-style escapes, so that every token stays on one line and is unambiguous.</summary>
    public static string Render(ReadOnlySpan<byte> bytes, bool escape)
    {
        var text = new StringBuilder(bytes.Length + 4);
        while (!bytes.IsEmpty)
        {
            if (Rune.DecodeFromUtf8(bytes, out var rune, out int used) != OperationStatus.Done)
            {
                foreach (byte b in bytes[..used]) text.Append(CultureInfo.InvariantCulture, $"\\x{b:X2}");
            }
            else if (escape)
            {
                Append(text, rune);
            }
            else
            {
                text.Append(rune.ToString());
            }
            bytes = bytes[used..];
        }
        return text.ToString();
    }

    private static void Append(StringBuilder text, Rune rune)
    {
        switch (rune.Value)
        {
            case '\\': text.Append(@"\\"); break;
            case '\n': text.Append(@"\n"); break;
            case '\r': text.Append(@"\r"); break;
            case '\t': text.Append(@"\t"); break;
            default:
                if (Rune.IsControl(rune)) text.Append(CultureInfo.InvariantCulture, $"\\u{rune.Value:X4}");
                else text.Append(rune.ToString());
                break;
        }
    }
}
