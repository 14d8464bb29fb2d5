using System.Text.Json;

namespace Engine.Training.Data.Formats;

/// <summary>The row formats that list turns as objects with a role and a text: ShareGPT and OpenAI messages.
/// A <c>system</c> entry may only come first (and, in ShareGPT, not together with a top-level <c>system</c>);
/// any other role, tool roles included, is rejected, since the <c>qwen</c> template here has no tool format.</summary>
internal sealed class TurnListFormat
{
    private enum Role
    {
        System,
        User,
        Assistant,
    }

    /// <summary>ShareGPT: <c>{"conversations": [{"from": role, "value": str}, ...], "system": str?}</c> with roles
    /// <c>human</c>/<c>user</c>, <c>gpt</c>/<c>assistant</c> and <c>system</c>.</summary>
    public static readonly TurnListFormat ShareGpt = new("conversations", "from", "value", topLevelSystem: true, new Dictionary<string, Role>
    {
        ["system"] = Role.System, ["human"] = Role.User, ["user"] = Role.User, ["gpt"] = Role.Assistant, ["assistant"] = Role.Assistant,
    });

    /// <summary>OpenAI chat: <c>{"messages": [{"role": role, "content": str}, ...]}</c> with roles <c>system</c>,
    /// <c>user</c> and <c>assistant</c>. Content must be a string: content-part arrays and tool calls are rejected.</summary>
    public static readonly TurnListFormat Messages = new("messages", "role", "content", topLevelSystem: false, new Dictionary<string, Role>
    {
        ["system"] = Role.System, ["user"] = Role.User, ["assistant"] = Role.Assistant,
    });

    private readonly string _listKey, _roleKey, _textKey;
    private readonly bool _topLevelSystem;
    private readonly IReadOnlyDictionary<string, Role> _roles;

    private TurnListFormat(string listKey, string roleKey, string textKey, bool topLevelSystem, IReadOnlyDictionary<string, Role> roles) =>
        (_listKey, _roleKey, _textKey, _topLevelSystem, _roles) = (listKey, roleKey, textKey, topLevelSystem, roles);

    public Conversation Parse(JsonElement row)
    {
        string? system = _topLevelSystem ? JsonRow.OptionalString(row, "system") : null;
        var turns = new List<ChatTurn>();
        int i = 0;
        foreach (var entry in JsonRow.RequireArray(row, _listKey).EnumerateArray())
        {
            string where = $"{_listKey}[{i}].";
            if (entry.ValueKind != JsonValueKind.Object)
                throw new FormatException($"{_listKey}[{i}] must be an object {{{_roleKey}, {_textKey}}}, found {JsonRow.Kind(entry)}");
            string name = JsonRow.RequireString(entry, _roleKey, where);
            string text = JsonRow.RequireString(entry, _textKey, where);
            if (!_roles.TryGetValue(name, out var role))
                throw new FormatException($"{where}{_roleKey} '{name}' is not supported ({string.Join(", ", _roles.Keys)})");
            if (role == Role.System)
            {
                if (i != 0 || system != null)
                    throw new FormatException($"{where}{_roleKey} '{name}' is allowed only as the first entry{(_topLevelSystem ? " and without a top-level 'system'" : "")}");
                system = text;
            }
            else
            {
                turns.Add(new ChatTurn(role == Role.User ? ChatRole.User : ChatRole.Assistant, text));
            }
            i++;
        }
        return new Conversation(system, turns);
    }
}
