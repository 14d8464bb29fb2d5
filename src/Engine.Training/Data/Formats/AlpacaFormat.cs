using System.Text.Json;

namespace Engine.Training.Data.Formats;

/// <summary>Alpaca rows: <c>{"instruction": str, "input": str?, "output": str, "system": str?, "history": [[user,
/// assistant], ...]?}</c>. As in LLaMA-Factory, a non-empty <c>input</c> is joined to the instruction with "\n" to
/// make the user turn, and <c>history</c> pairs come before it as earlier turns.</summary>
internal static class AlpacaFormat
{
    public static Conversation Parse(JsonElement row)
    {
        var turns = new List<ChatTurn>();
        if (row.TryGetProperty("history", out var history) && history.ValueKind != JsonValueKind.Null)
        {
            if (history.ValueKind != JsonValueKind.Array) throw new FormatException($"'history' must be an array of [user, assistant] pairs, found {JsonRow.Kind(history)}");
            int i = 0;
            foreach (var pair in history.EnumerateArray())
            {
                if (pair.ValueKind != JsonValueKind.Array || pair.GetArrayLength() != 2 || pair.EnumerateArray().Any(s => s.ValueKind != JsonValueKind.String))
                    throw new FormatException($"'history'[{i}] must be a pair of strings [user, assistant]");
                turns.Add(new ChatTurn(ChatRole.User, JsonRow.Text(pair[0], $"'history'[{i}][0]")));
                turns.Add(new ChatTurn(ChatRole.Assistant, JsonRow.Text(pair[1], $"'history'[{i}][1]")));
                i++;
            }
        }
        string instruction = JsonRow.RequireString(row, "instruction");
        string? input = JsonRow.OptionalString(row, "input");
        string prompt = string.IsNullOrEmpty(input) ? instruction : instruction + "\n" + input;
        turns.Add(new ChatTurn(ChatRole.User, prompt));
        turns.Add(new ChatTurn(ChatRole.Assistant, JsonRow.RequireString(row, "output")));
        return new Conversation(JsonRow.OptionalString(row, "system"), turns);
    }
}
