using Engine.Training.Data;
using Engine.Training.Tokenization;

namespace Engine.Training.Templates;

/// <summary>The <c>qwen</c> template (ChatML), laid out as LLaMA-Factory's <c>qwen</c> template and Qwen2.5's HF
/// chat template write it:
/// <code>
/// &lt;|im_start|&gt;system\n{system}&lt;|im_end|&gt;\n                         (no loss)
/// &lt;|im_start|&gt;user\n{user}&lt;|im_end|&gt;\n&lt;|im_start|&gt;assistant\n   (no loss)
/// {assistant}&lt;|im_end|&gt;\n                                         (loss)
/// ... one user/assistant pair per exchange
/// </code>
/// Every assistant turn is trained on, with its <c>&lt;|im_end|&gt;</c> and the "\n" after it, as LLaMA-Factory
/// labels them. Prompt and reply are tokenized separately (as LLaMA-Factory does), so a reply starting with
/// whitespace may tokenize differently from the whole rendered string. Special tokens written in the content are
/// matched as special tokens, as Hugging Face tokenizers do.</summary>
public sealed class QwenChatTemplate : IChatTemplate
{
    /// <summary>Qwen2.5's default system prompt, used by its HF chat template and LLaMA-Factory when a
    /// conversation has none.</summary>
    public const string DefaultSystemPrompt = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

    private const string ImStart = "<|im_start|>";
    private const string ImEnd = "<|im_end|>";

    private readonly ITextTokenizer _tokenizer;
    private readonly string _defaultSystem;

    /// <summary>A template over <paramref name="tokenizer"/>, which must have the ChatML tokens;
    /// <paramref name="defaultSystem"/> is the system prompt for conversations without one ("" = no system block).</summary>
    public QwenChatTemplate(ITextTokenizer tokenizer, string defaultSystem)
    {
        foreach (var token in new[] { ImStart, ImEnd })
        {
            if (tokenizer.FindAddedToken(token) == null)
                throw new TokenizerException($"the qwen chat template needs the added token {token}, which the tokenizer {tokenizer.Description} lacks");
        }
        _tokenizer = tokenizer;
        _defaultSystem = defaultSystem;
    }

    /// <inheritdoc/>
    public TokenizedExample Apply(Conversation conversation, int line)
    {
        var ids = new List<int>();
        var labels = new List<int>();
        string system = conversation.System ?? _defaultSystem;
        if (system.Length > 0) Append(ids, labels, $"{ImStart}system\n{system}{ImEnd}\n", trained: false);
        foreach (var turn in conversation.Turns)
        {
            if (turn.Role == ChatRole.User) Append(ids, labels, $"{ImStart}user\n{turn.Content}{ImEnd}\n{ImStart}assistant\n", trained: false);
            else Append(ids, labels, $"{turn.Content}{ImEnd}\n", trained: true);
        }
        return new TokenizedExample(line, ids.ToArray(), labels.ToArray());
    }

    private void Append(List<int> ids, List<int> labels, string text, bool trained)
    {
        int[] piece = _tokenizer.Encode(text);
        ids.AddRange(piece);
        if (trained) labels.AddRange(piece);
        else labels.AddRange(Enumerable.Repeat(PackedBatch.IgnoreIndex, piece.Length));
    }
}
