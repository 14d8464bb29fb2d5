using System.Text.Json;

namespace Engine.Training.Data.Formats;

/// <summary>The format of one JSONL row, told by its keys, so one file may mix formats:
/// <c>input_ids</c> = pre-tokenized, <c>messages</c> = OpenAI chat, <c>conversations</c> = ShareGPT,
/// <c>instruction</c> = Alpaca. A row with none of these keys, or with more than one, is an error.</summary>
public enum RowFormat
{
    /// <summary><c>input_ids</c> (and optional <c>labels</c>): token ids taken as they are, no template.</summary>
    PreTokenized,
    /// <summary><c>messages</c>: a list of <c>{role, content}</c> with roles system, user, assistant.</summary>
    Messages,
    /// <summary><c>conversations</c>: a list of <c>{from, value}</c> with from system, human, gpt.</summary>
    ShareGpt,
    /// <summary><c>instruction</c> with optional <c>input</c> and <c>output</c>: one user turn (the instruction, then a non-empty
    /// <c>input</c> after a newline, as LLaMA-Factory joins them) and one assistant turn (<c>output</c>).</summary>
    Alpaca,
}

internal static class RowFormats
{
    private static readonly (string Key, RowFormat Format)[] Keys =
    [
        ("input_ids", RowFormat.PreTokenized),
        ("messages", RowFormat.Messages),
        ("conversations", RowFormat.ShareGpt),
        ("instruction", RowFormat.Alpaca),
    ];

    public static RowFormat Detect(JsonElement row)
    {
        if (row.ValueKind != JsonValueKind.Object) throw new FormatException($"a row must be a JSON object, found {JsonRow.Kind(row)}");
        var found = Keys.Where(k => row.TryGetProperty(k.Key, out _)).ToList();
        return found.Count switch
        {
            1 => found[0].Format,
            0 => throw new FormatException($"unknown row format: expected one of the keys {string.Join(", ", Keys.Select(k => $"'{k.Key}'"))} (pre-tokenized, messages, sharegpt, alpaca)"),
            _ => throw new FormatException($"ambiguous row: it has {string.Join(" and ", found.Select(k => $"'{k.Key}'"))}; use one format per row"),
        };
    }

    /// <summary>The conversation of a text row (any format but <see cref="RowFormat.PreTokenized"/>).</summary>
    public static Conversation ReadConversation(JsonElement row, RowFormat format) => format switch
    {
        RowFormat.Messages => TurnListFormat.Messages.Parse(row),
        RowFormat.ShareGpt => TurnListFormat.ShareGpt.Parse(row),
        RowFormat.Alpaca => AlpacaFormat.Parse(row),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "not a text format"),
    };
}
