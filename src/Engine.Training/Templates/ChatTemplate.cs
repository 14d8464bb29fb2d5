using Engine.Core;
using Engine.Training.Data;
using Engine.Training.Tokenization;

namespace Engine.Training.Templates;

/// <summary>The chat templates the engine renders (<c>--template</c>).</summary>
public enum ChatTemplateName
{
    /// <summary>ChatML as Qwen2/Qwen2.5 use it (<see cref="QwenChatTemplate"/>).</summary>
    Qwen,
}

/// <summary>Turns a <see cref="Conversation"/> into token ids and labels, loss on the assistant turns only.</summary>
public interface IChatTemplate
{
    /// <summary>The tokens of <paramref name="conversation"/> with labels on the assistant turns and <see cref="PackedBatch.IgnoreIndex"/>
    /// elsewhere; <paramref name="line"/> is the data file's line, for errors.</summary>
    TokenizedExample Apply(Conversation conversation, int line);
}

/// <summary>The chat templates by name.</summary>
public static class ChatTemplates
{
    /// <summary>The names <c>--template</c> accepts, lower case.</summary>
    public static IReadOnlyList<string> Names { get; } = Enum.GetNames<ChatTemplateName>().Select(n => n.ToLowerInvariant()).ToArray();

    /// <summary>The template named on the command line; an unknown name is an error listing the supported ones.</summary>
    public static ChatTemplateName Parse(string name)
    {
        foreach (var t in Enum.GetValues<ChatTemplateName>())
            if (string.Equals(t.ToString(), name, StringComparison.OrdinalIgnoreCase)) return t;
        throw new EngineException($"unknown chat template '{name}' (supported: {string.Join(", ", Names)})");
    }

    /// <summary>The template <paramref name="name"/> over <paramref name="tokenizer"/>; <paramref name="systemPrompt"/>
    /// is the system prompt for conversations without one: null = the template's default, "" = no system block.</summary>
    public static IChatTemplate Create(ChatTemplateName name, ITextTokenizer tokenizer, string? systemPrompt) => name switch
    {
        ChatTemplateName.Qwen => new QwenChatTemplate(tokenizer, systemPrompt ?? QwenChatTemplate.DefaultSystemPrompt),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };
}
