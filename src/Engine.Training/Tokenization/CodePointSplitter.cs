using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Engine.Training.Tokenization;

/// <summary>A <c>tokenizer.json</c> split regex applied per code point, as in Hugging Face <c>tokenizers</c>, with the
/// <c>Isolated</c> behaviour: each match is a pre-token, and so is each stretch of text between matches.
/// <para>.NET regular expressions see UTF-16 code units, so a code point outside the BMP is two surrogates of
/// category Cs: <c>\p{L}</c> misses U+1D400, <c>\p{N}</c> misses U+1D7CE, and <c>[^\s\p{L}\p{N}]</c> takes half of
/// an emoji. The regex therefore runs on a stand-in text in which each such code point is one BMP character of the
/// same general category (an unpaired surrogate stands as U+FFFD, which is what Rust sees), and the matches are
/// mapped back to the real text.</para></summary>
internal sealed class CodePointSplitter : PreTokenizer
{
    private static readonly char[] StandIns = FindStandIns();

    private readonly Regex _regex;

    public CodePointSplitter(string pattern) =>
        _regex = new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text)
    {
        if (string.IsNullOrEmpty(text)) return [];
        var (shadow, offsets) = StandIn(text);
        var pieces = new List<(int, int)>();
        int done = 0;
        for (var m = _regex.Match(shadow); m.Success; m = m.NextMatch())
        {
            if (m.Length == 0) continue;
            int start = offsets?[m.Index] ?? m.Index, end = offsets?[m.Index + m.Length] ?? m.Index + m.Length;
            if (start > done) pieces.Add((done, start - done));
            pieces.Add((start, end - start));
            done = end;
        }
        if (done < text.Length) pieces.Add((done, text.Length - done));
        return pieces;
    }

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => PreTokenize(text.ToString());

    /// <summary>The text the regex runs on and, when it differs from <paramref name="text"/>, the offset in
    /// <paramref name="text"/> of each of its characters (plus one past the end); null when there are no surrogates.</summary>
    private static (string Shadow, int[]? Offsets) StandIn(string text)
    {
        if (!text.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF')) return (text, null);
        var shadow = new StringBuilder(text.Length);
        var offsets = new List<int>(text.Length + 1);
        for (int i = 0; i < text.Length;)
        {
            offsets.Add(i);
            if (!char.IsSurrogate(text[i]))
            {
                shadow.Append(text[i++]);
                continue;
            }
            bool pair = char.IsSurrogatePair(text, i);
            shadow.Append(pair ? StandIns[(int)CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(text[i], text[i + 1]))] : '\uFFFD');
            i += pair ? 2 : 1;
        }
        offsets.Add(text.Length);
        return (shadow.ToString(), offsets.ToArray());
    }

    /// <summary>For each general category, a BMP character of that category from U+0100 on whose case mappings stay
    /// outside ASCII, so that it cannot match an ASCII literal of the pattern, even under <c>(?i)</c>.</summary>
    private static char[] FindStandIns()
    {
        var standIns = new char[Enum.GetValues<UnicodeCategory>().Length];
        for (int c = 0xFFFD; c >= 0x100; c--)
        {
            if (char.IsSurrogate((char)c) || char.ToLowerInvariant((char)c) < 0x80 || char.ToUpperInvariant((char)c) < 0x80) continue;
            standIns[(int)CharUnicodeInfo.GetUnicodeCategory((char)c)] = (char)c;
        }
        return standIns;
    }
}
