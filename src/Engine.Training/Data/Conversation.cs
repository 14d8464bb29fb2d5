namespace Engine.Training.Data;

/// <summary>Who speaks a turn; a system prompt is not a turn (see <see cref="Conversation.System"/>).</summary>
public enum ChatRole
{
    /// <summary>The prompt side: no loss is taken on its tokens.</summary>
    User,
    /// <summary>The reply side: its tokens (and its end-of-turn token) are what SFT learns.</summary>
    Assistant,
}

/// <summary>One turn of a dialogue.</summary>
/// <param name="Role">Who speaks.</param>
/// <param name="Content">The text, not empty.</param>
public sealed record ChatTurn(ChatRole Role, string Content);

/// <summary>A dialogue as every text row format reads into it: an optional system prompt (null = the chat
/// template's default), then turns alternating user, assistant, user, ..., ending with an assistant turn (a
/// trailing user turn would have nothing to learn from). No turn is empty. The constructor enforces this and
/// throws <see cref="FormatException"/> saying what is wrong.</summary>
public sealed record Conversation
{
    /// <summary>A checked dialogue; an empty <paramref name="system"/> counts as none.</summary>
    /// <exception cref="FormatException">No turns, turns that do not alternate user, assistant, ..., an empty turn, or a
    /// last turn that is not the assistant's.</exception>
    public Conversation(string? system, IReadOnlyList<ChatTurn> turns)
    {
        if (turns.Count == 0) throw new FormatException("the conversation has no turns");
        for (int i = 0; i < turns.Count; i++)
        {
            var expected = i % 2 == 0 ? ChatRole.User : ChatRole.Assistant;
            if (turns[i].Role != expected)
                throw new FormatException($"turn {i} is {Name(turns[i].Role)}, expected {Name(expected)} (turns must alternate user, assistant, ...)");
            if (turns[i].Content.Length == 0) throw new FormatException($"turn {i} ({Name(turns[i].Role)}) is empty");
        }
        if (turns[^1].Role != ChatRole.Assistant) throw new FormatException("the conversation ends with a user turn: there is no assistant reply to learn");
        System = string.IsNullOrEmpty(system) ? null : system;
        Turns = turns;
    }

    /// <summary>The system prompt; null: the chat template's default.</summary>
    public string? System { get; }

    /// <summary>The turns, user first, alternating, the assistant's last.</summary>
    public IReadOnlyList<ChatTurn> Turns { get; }

    private static string Name(ChatRole role) => role == ChatRole.User ? "user" : "assistant";
}
