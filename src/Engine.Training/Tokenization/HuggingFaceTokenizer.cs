using System.Text;
using Microsoft.ML.Tokenizers;

namespace Engine.Training.Tokenization;

/// <summary>A model directory's <c>tokenizer.json</c> (byte-level BPE, see <see cref="TokenizerJson"/>) on
/// Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>. The library has no loader for <c>tokenizer.json</c>, so we
/// read it and hand over the vocabulary and merges; added tokens are cut out of the text first
/// (<see cref="AddedTokenSplitter"/>), as Hugging Face tokenizers do, so they never reach the BPE. The pieces between
/// them are normalised (<see cref="UnicodeNfc"/>, when the file asks for NFC) and split by the file's regex per code
/// point (<see cref="CodePointSplitter"/>), since the runtime offers neither: invariant globalization has no NFC, and
/// .NET regular expressions match UTF-16 code units. Checked against Hugging Face <c>tokenizers</c> on Qwen3's
/// <c>tokenizer.json</c> (tests/fixtures/qwen3-tokenizer).</summary>
public sealed class HuggingFaceTokenizer : ITextTokenizer
{
    private readonly BpeTokenizer _bpe;
    private readonly AddedTokenSplitter _splitter;
    private readonly Dictionary<int, string> _addedById;
    private readonly Dictionary<int, string> _vocabularyById;
    private readonly bool _nfc;

    private HuggingFaceTokenizer(string path, TokenizerJson json)
    {
        var options = new BpeOptions(json.Vocabulary)
        {
            Merges = json.Merges,
            PreTokenizer = new CodePointSplitter(json.SplitPattern),
            ByteLevel = true,
        };
        _bpe = BpeTokenizer.Create(options);
        _splitter = new AddedTokenSplitter(json.AddedTokens);
        _addedById = json.AddedTokens.ToDictionary(t => t.Value, t => t.Key);
        _vocabularyById = json.Vocabulary.GroupBy(t => t.Value).ToDictionary(g => g.Key, g => g.First().Key);
        _nfc = json.Nfc;
        IdLimit = Math.Max(json.Vocabulary.Values.DefaultIfEmpty(-1).Max(), json.AddedTokens.Values.DefaultIfEmpty(-1).Max()) + 1;
        Description = $"{path} (byte-level BPE: {json.Vocabulary.Count} tokens, {json.Merges.Count} merges, {json.AddedTokens.Count} added tokens"
            + (json.Nfc ? ", NFC" : "") + ")";
    }

    /// <inheritdoc/>
    public string Description { get; }

    /// <inheritdoc/>
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

    /// <inheritdoc/>
    public int? FindAddedToken(string content)
    {
        foreach (var (id, text) in _addedById)
            if (text == content) return id;
        return null;
    }

    /// <inheritdoc/>
    public int[] Encode(string text)
    {
        var ids = new List<int>();
        _splitter.Encode(text, ids, EncodePiece);
        return ids.ToArray();
    }

    /// <inheritdoc/>
    public byte[] TokenBytes(int id)
    {
        if (_addedById.TryGetValue(id, out var added)) return Encoding.UTF8.GetBytes(added);
        return _vocabularyById.TryGetValue(id, out var token) ? ByteLevelAlphabet.ToBytes(token)
            : throw new ArgumentOutOfRangeException(nameof(id), id, "not an id of this tokenizer");
    }

    /// <inheritdoc/>
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
        if (_nfc) piece = UnicodeNfc.Normalize(piece);
        ids.AddRange(_bpe.EncodeToIds(piece, considerPreTokenization: true, considerNormalization: false));
    }
}
