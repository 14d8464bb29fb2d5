using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Engine.Training.Tokenization;

/// <summary>A model directory's <c>tokenizer.json</c> (byte-level BPE, see <see cref="TokenizerJson"/>) on
/// Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>. The library has no loader for <c>tokenizer.json</c>, so we
/// read it and hand over the vocabulary, merges and split pattern; added tokens are cut out of the text first
/// (<see cref="AddedTokenSplitter"/>), as Hugging Face tokenizers do, so they never reach the BPE.
/// <para>Known deviations from Hugging Face <c>tokenizers</c>:</para>
/// <list type="bullet">
/// <item>NFC normalisation needs ICU, which the engine does not load (invariant globalization): where the runtime
/// cannot normalise, text is tokenized as given. Text already in NFC, nearly all data, is unaffected; decomposed
/// text ("e" + U+0301) gets valid but different ids, so normalise such data to NFC beforehand.</item>
/// <item>.NET regular expressions see UTF-16 code units, so a letter outside the BMP (U+1D400, U+20000, ...) does
/// not match <c>\p{L}</c> and may be split into different pre-tokens than in Rust; emoji are unaffected.</item>
/// </list></summary>
public sealed class HuggingFaceTokenizer : ITextTokenizer
{
    // Probed once: under invariant globalization string.Normalize returns its input unchanged.
    private static readonly bool CanNormalize = "e\u0301".Normalize(NormalizationForm.FormC) == "\u00e9";

    private readonly BpeTokenizer _bpe;
    private readonly AddedTokenSplitter _splitter;
    private readonly Dictionary<int, string> _addedById;
    private readonly bool _nfc;

    private HuggingFaceTokenizer(string path, TokenizerJson json)
    {
        var options = new BpeOptions(json.Vocabulary)
        {
            Merges = json.Merges,
            PreTokenizer = new RegexPreTokenizer(new Regex(json.SplitPattern, RegexOptions.Compiled | RegexOptions.CultureInvariant), specialTokens: null),
            ByteLevel = true,
        };
        _bpe = BpeTokenizer.Create(options);
        _splitter = new AddedTokenSplitter(json.AddedTokens);
        _addedById = json.AddedTokens.ToDictionary(t => t.Value, t => t.Key);
        _nfc = json.Nfc && CanNormalize;
        IdLimit = Math.Max(json.Vocabulary.Values.DefaultIfEmpty(-1).Max(), json.AddedTokens.Values.DefaultIfEmpty(-1).Max()) + 1;
        Description = $"{path} (byte-level BPE: {json.Vocabulary.Count} tokens, {json.Merges.Count} merges, {json.AddedTokens.Count} added tokens"
            + (json.Nfc && !CanNormalize ? "; NFC not applied: no ICU in invariant globalization mode" : "") + ")";
    }

    public string Description { get; }

    public int IdLimit { get; }

    /// <summary>Reads <paramref name="path"/> (a <c>tokenizer.json</c>); throws <see cref="TokenizerException"/>
    /// naming the file when it is malformed or uses a feature we do not implement.</summary>
    public static HuggingFaceTokenizer Load(string path)
    {
        var json = TokenizerJson.Read(path);
        try
        {
            return new HuggingFaceTokenizer(path, json);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            // Regex syntax .NET does not share with Rust, or merges naming tokens missing from the vocabulary
            // (Microsoft.ML.Tokenizers reports some of those as InvalidOperationException: found by fuzzing).
            throw new TokenizerException($"{path}: {e.Message}", e);
        }
    }

    public int? FindAddedToken(string content)
    {
        foreach (var (id, text) in _addedById)
            if (text == content) return id;
        return null;
    }

    public int[] Encode(string text)
    {
        var ids = new List<int>();
        _splitter.Encode(text, ids, EncodePiece);
        return ids.ToArray();
    }

    public string Decode(IEnumerable<int> ids)
    {
        var text = new StringBuilder();
        var run = new List<int>();
        foreach (int id in ids)
        {
            if (!_addedById.TryGetValue(id, out var added))
            {
                run.Add(id);
                continue;
            }
            text.Append(_bpe.Decode(run));
            run.Clear();
            text.Append(added);
        }
        return text.Append(_bpe.Decode(run)).ToString();
    }

    private void EncodePiece(string piece, List<int> ids)
    {
        if (_nfc) piece = piece.Normalize(NormalizationForm.FormC);
        ids.AddRange(_bpe.EncodeToIds(piece, considerPreTokenization: true, considerNormalization: false));
    }
}
