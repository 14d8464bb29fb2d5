using System.Text.Json;

namespace Engine.Training.Data.Formats;

/// <summary>Pre-tokenized rows: <c>{"input_ids": [int, ...], "labels": [int, ...]?}</c>. <c>labels</c> has one entry
/// per input id (-100 = no loss); absent or null, every token is a label. The ids are used as they are: no chat
/// template, no tokenizer; each must be below the model's <c>vocab_size</c> where it is known.</summary>
internal static class PreTokenizedFormat
{
    public static TokenizedExample Parse(JsonElement row, int line, int? vocabSize)
    {
        int[] inputIds = ReadInts(row.GetProperty("input_ids"), "input_ids");
        if (inputIds.Length == 0) throw new FormatException("'input_ids' is empty");
        for (int i = 0; i < inputIds.Length; i++)
        {
            if (inputIds[i] < 0) throw new FormatException($"'input_ids'[{i}] is a negative token id ({inputIds[i]})");
            if (inputIds[i] >= vocabSize) throw new FormatException($"'input_ids'[{i}] = {inputIds[i]} is outside the vocabulary (vocab_size {vocabSize})");
        }
        int[] labels = (int[])inputIds.Clone();
        if (row.TryGetProperty("labels", out var l) && l.ValueKind != JsonValueKind.Null)
        {
            labels = ReadInts(l, "labels");
            if (labels.Length != inputIds.Length)
                throw new FormatException($"'labels' has {labels.Length} entries for {inputIds.Length} input_ids");
            if (labels.Any(t => t < 0 && t != PackedBatch.IgnoreIndex))
                throw new FormatException("'labels' holds a negative value other than -100");
        }
        return new TokenizedExample(line, inputIds, labels);
    }

    private static int[] ReadInts(JsonElement e, string name)
    {
        if (e.ValueKind != JsonValueKind.Array) throw new FormatException($"'{name}' must be an array, found {JsonRow.Kind(e)}");
        var values = new int[e.GetArrayLength()];
        int i = 0;
        foreach (var v in e.EnumerateArray())
        {
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out values[i]))
                throw new FormatException($"'{name}'[{i}] is not a 32-bit integer");
            i++;
        }
        return values;
    }
}
