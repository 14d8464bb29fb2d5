using System.Text;

namespace Engine.Training.Tokenization;

/// <summary>The tokenizer of a model directory without <c>tokenizer.json</c>: ids 0..255 are the UTF-8 bytes of
/// the text, and the ChatML tokens follow (256 <c>&lt;|endoftext|&gt;</c>, 257 <c>&lt;|im_start|&gt;</c>,
/// 258 <c>&lt;|im_end|&gt;</c>) so the <c>qwen</c> template works; the model needs <c>vocab_size</c> &gt;= 259.
/// Meant for tests and synthetic models, not for real checkpoints, whose ids mean something else.</summary>
public sealed class ByteTokenizer : ITextTokenizer
{
    /// <summary>The added tokens and their ids, in id order after the 256 bytes.</summary>
    public static readonly IReadOnlyDictionary<string, int> AddedTokens = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["<|endoftext|>"] = 256,
        ["<|im_start|>"] = 257,
        ["<|im_end|>"] = 258,
    };

    private readonly AddedTokenSplitter _splitter = new(AddedTokens);

    /// <inheritdoc/>
    public string Description => $"byte-level ({IdLimit} ids: 256 bytes + {string.Join(", ", AddedTokens.Keys)})";

    /// <inheritdoc/>
    public int IdLimit => 256 + AddedTokens.Count;

    /// <inheritdoc/>
    public int? FindAddedToken(string content) => AddedTokens.TryGetValue(content, out int id) ? id : null;

    /// <inheritdoc/>
    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length + 8);
        _splitter.Encode(text, ids, static (piece, into) =>
        {
            foreach (byte b in Encoding.UTF8.GetBytes(piece)) into.Add(b);
        });
        return ids.ToArray();
    }

    /// <inheritdoc/>
    public byte[] TokenBytes(int id) => id is >= 0 and < 256 ? [(byte)id]
        : Encoding.UTF8.GetBytes(AddedTokens.FirstOrDefault(t => t.Value == id).Key ?? throw NotAnId(id));

    /// <inheritdoc/>
    public string Decode(IEnumerable<int> ids)
    {
        var text = new StringBuilder();
        var bytes = new List<byte>();
        foreach (int id in ids)
        {
            if (id is >= 0 and < 256)
            {
                bytes.Add((byte)id);
                continue;
            }
            text.Append(Encoding.UTF8.GetString(bytes.ToArray()));
            bytes.Clear();
            text.Append(AddedTokens.FirstOrDefault(t => t.Value == id).Key ?? throw NotAnId(id));
        }
        return text.Append(Encoding.UTF8.GetString(bytes.ToArray())).ToString();
    }

    private ArgumentOutOfRangeException NotAnId(int id) => new(nameof(id), id, $"not an id of the byte-level tokenizer (0..{IdLimit - 1})");
}
