using System.Text.Json.Nodes;
using Engine.Core.Model;
using Engine.Training.Tokenization;

namespace Engine.Training.Evaluation;

/// <summary>The tokens that end a generated reply: config.json's <c>eos_token_id</c> (a number or a list) and the
/// chat template's end of turn, <c>&lt;|im_end|&gt;</c>, when the tokenizer has it.</summary>
public static class StopTokens
{
    /// <summary>The ChatML end-of-turn token of Qwen's chat template.</summary>
    public const string EndOfTurn = "<|im_end|>";

    /// <summary>The stop token ids of a model: <paramref name="config"/>'s <c>eos_token_id</c> values and, when <paramref name="tokenizer"/>
    /// knows it, <see cref="EndOfTurn"/>'s id.</summary>
    public static IReadOnlySet<int> Of(ModelConfig config, ITextTokenizer? tokenizer)
    {
        var stops = new HashSet<int>();
        switch (config.Root["eos_token_id"])
        {
            case JsonValue v when v.TryGetValue(out int id):
                stops.Add(id);
                break;
            case JsonArray ids:
                foreach (var id in ids)
                    if (id is JsonValue x && x.TryGetValue(out int value)) stops.Add(value);
                break;
        }
        if (tokenizer?.FindAddedToken(EndOfTurn) is { } endOfTurn) stops.Add(endOfTurn);
        return stops;
    }
}
