namespace Engine.Training.Tokenization;

/// <summary>Turns text into token ids for training. Added tokens (<c>&lt;|im_start|&gt;</c>, <c>&lt;|im_end|&gt;</c>,
/// <c>&lt;|endoftext|&gt;</c>, ...) that occur in the text are matched whole and map to their own ids; they are never
/// split into pieces. No BOS/EOS or other tokens are added around the text.</summary>
public interface ITextTokenizer
{
    /// <summary>One line for logs: what the tokenizer is and where it came from.</summary>
    string Description { get; }

    /// <summary>One past the highest id this tokenizer can produce; a model needs <c>vocab_size</c> at least this.</summary>
    int IdLimit { get; }

    /// <summary>The id of an added (special) token, or null when the tokenizer has no such token.</summary>
    int? FindAddedToken(string content);

    /// <summary>The ids of <paramref name="text"/>, added tokens matched whole, nothing added around it.</summary>
    int[] Encode(string text);

    /// <summary>The text of a sequence of ids (added tokens written out as their content).</summary>
    string Decode(IEnumerable<int> ids);

    /// <summary>The UTF-8 bytes one token stands for (an added token: its content). A character may take several
    /// tokens, so one token's bytes need not be valid UTF-8 on their own.</summary>
    byte[] TokenBytes(int id);
}
