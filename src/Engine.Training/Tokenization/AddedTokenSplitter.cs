using System.Text.RegularExpressions;

namespace Engine.Training.Tokenization;

/// <summary>Cuts text at occurrences of added tokens, as Hugging Face tokenizers do before normalising and
/// pre-tokenizing: the pieces between them are tokenized on their own, the added tokens become their ids.
/// Where two added tokens could match at one position the longer wins.</summary>
internal sealed class AddedTokenSplitter
{
    private readonly IReadOnlyDictionary<string, int> _tokens;
    private readonly Regex? _pattern;

    public AddedTokenSplitter(IReadOnlyDictionary<string, int> tokens)
    {
        _tokens = tokens;
        if (tokens.Count > 0)
        {
            var alternatives = tokens.Keys.OrderByDescending(t => t.Length).ThenBy(t => t, StringComparer.Ordinal).Select(Regex.Escape);
            _pattern = new Regex(string.Join('|', alternatives), RegexOptions.CultureInvariant | RegexOptions.Compiled);
        }
    }

    /// <summary>Appends the ids of <paramref name="text"/> to <paramref name="ids"/>: <paramref name="encodeText"/>
    /// for each non-empty piece between added tokens, the added token's id for each match.</summary>
    public void Encode(string text, List<int> ids, Action<string, List<int>> encodeText)
    {
        int start = 0;
        if (_pattern != null)
        {
            for (var m = _pattern.Match(text); m.Success; m = m.NextMatch())
            {
                if (m.Index > start) encodeText(text[start..m.Index], ids);
                ids.Add(_tokens[m.Value]);
                start = m.Index + m.Length;
            }
        }
        if (start < text.Length) encodeText(text[start..], ids);
    }
}
