namespace Engine.Training.Data;

public enum ChatRole
{
    User,
    Assistant,
}

public sealed record ChatTurn(ChatRole Role, string Content);

/// <summary>A dialogue as every text row format reads into it: an optional system prompt (null = the chat
/// template's default), then turns alternating user, assistant, user, ..., ending with an assistant turn (a
/// trailing user turn would have nothing to learn from). No turn is empty. The constructor enforces this and
/// throws <see cref="FormatException"/> saying what is wrong.</summary>
public sealed record Conversation
{
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

    public string? System { get; }

    public IReadOnlyList<ChatTurn> Turns { get; }

    private static string Name(ChatRole role) => role == ChatRole.User ? "user" : "assistant";
}
