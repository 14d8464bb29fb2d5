using System.Text.RegularExpressions;

namespace Engine.Training.Evaluation;

/// <summary>The answer of a reply, as exact match compares it. The rule, applied alike to the generated text and the
/// reference:
/// <list type="number">
/// <item>the content of the last <c>\boxed{...}</c> whose braces balance (nested braces allowed);</item>
/// <item>else the text after the last <c>Answer:</c> (any letter case);</item>
/// <item>else the whole text;</item>
/// </list>
/// then normalised: whitespace runs become one space, leading and trailing whitespace goes, letters are
/// lower-cased (invariant culture), and one trailing period is dropped.</summary>
public static partial class AnswerExtraction
{
    private const string Boxed = "\\boxed{";
    private const string AnswerMarker = "Answer:";

    /// <summary>The normalised answer of <paramref name="text"/>: <see cref="Normalize"/> of <see cref="Locate"/>.</summary>
    public static string Extract(string text) => Normalize(Locate(text));

    /// <summary>The part of <paramref name="text"/> that holds the answer (steps 1 to 3), not normalised.</summary>
    public static string Locate(string text)
    {
        if (LastBalancedBoxed(text) is { } boxed) return boxed;
        int marker = text.LastIndexOf(AnswerMarker, StringComparison.OrdinalIgnoreCase);
        return marker >= 0 ? text[(marker + AnswerMarker.Length)..] : text;
    }

    /// <summary>Step 4 alone: whitespace runs to one space, trimmed, lower-cased (invariant), one trailing period dropped.</summary>
    public static string Normalize(string answer)
    {
        string s = Whitespace().Replace(answer, " ").Trim().ToLowerInvariant();
        return s.EndsWith('.') ? s[..^1].TrimEnd() : s;
    }

    // A reply cut off by the token limit may end inside a \boxed{: then an earlier complete one is the answer.
    private static string? LastBalancedBoxed(string text)
    {
        var starts = new List<int>();
        for (int at = text.IndexOf(Boxed, StringComparison.Ordinal); at >= 0; at = text.IndexOf(Boxed, at + 1, StringComparison.Ordinal))
            starts.Add(at + Boxed.Length);
        for (int k = starts.Count - 1; k >= 0; k--)
        {
            int depth = 1;
            for (int i = starts[k]; i < text.Length; i++)
            {
                if (text[i] == '{') depth++;
                else if (text[i] == '}' && --depth == 0) return text[starts[k]..i];
            }
        }
        return null;
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
