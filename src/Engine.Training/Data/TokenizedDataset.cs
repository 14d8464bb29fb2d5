using System.Text.Json;
using Engine.Core;

namespace Engine.Training.Data;

/// <summary>A JSONL row, or a whole data file, breaks the expected format. The message names the file and line.</summary>
public sealed class DatasetFormatException : EngineException
{
    public DatasetFormatException(string path, int line, string problem) : base($"{path}:{line}: {problem}")
    {
        FilePath = path;
        Line = line;
    }

    public string FilePath { get; }

    /// <summary>1-based line number.</summary>
    public int Line { get; }
}

/// <summary>One pre-tokenized example: token ids and, aligned with them, labels (-100 = no loss).</summary>
public sealed record TokenizedExample(int Line, int[] InputIds, int[] Labels);

/// <summary>Reads pre-tokenized JSONL: one object per line with <c>input_ids</c> (integers) and optionally
/// <c>labels</c> of the same length (-100 = no loss; absent = every token is a label). Blank lines are skipped.
/// Rows in text formats (alpaca, sharegpt, messages) need the tokenizer and chat template, which this reader
/// does not have: they are reported as errors naming the line.</summary>
public static class TokenizedDataset
{
    public static List<TokenizedExample> Read(string path) => Read(path, skipBadRows: false, out _);

    /// <summary>Reads every row; with <paramref name="skipBadRows"/> a bad row is counted in
    /// <paramref name="skipped"/> instead of failing the whole file.</summary>
    public static List<TokenizedExample> Read(string path, bool skipBadRows, out int skipped)
    {
        var rows = new List<TokenizedExample>();
        int lineNumber = 0;
        skipped = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                rows.Add(Parse(path, lineNumber, line));
            }
            catch (DatasetFormatException) when (skipBadRows)
            {
                skipped++;
            }
        }
        if (rows.Count == 0) throw new DatasetFormatException(path, lineNumber, skipped > 0 ? $"no valid examples ({skipped} bad rows skipped)" : "no examples in the file");
        return rows;
    }

    private static TokenizedExample Parse(string path, int line, string text)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            throw new DatasetFormatException(path, line, $"invalid JSON: {e.Message.Split('\n')[0]}");
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new DatasetFormatException(path, line, "a row must be a JSON object");
            if (!root.TryGetProperty("input_ids", out var ids))
            {
                string[] textKeys = ["instruction", "conversations", "messages"];
                var found = textKeys.FirstOrDefault(k => root.TryGetProperty(k, out _));
                throw new DatasetFormatException(path, line, found != null
                    ? $"'{found}' rows need a tokenizer and chat template, which are not implemented yet; give pre-tokenized rows ('input_ids', optional 'labels')"
                    : "no 'input_ids' array");
            }
            int[] inputIds = ReadInts(path, line, ids, "input_ids");
            if (inputIds.Length == 0) throw new DatasetFormatException(path, line, "'input_ids' is empty");
            if (inputIds.Any(t => t < 0)) throw new DatasetFormatException(path, line, "'input_ids' holds a negative token id");
            int[] labels = inputIds;
            if (root.TryGetProperty("labels", out var l) && l.ValueKind != JsonValueKind.Null)
            {
                labels = ReadInts(path, line, l, "labels");
                if (labels.Length != inputIds.Length)
                    throw new DatasetFormatException(path, line, $"'labels' has {labels.Length} entries for {inputIds.Length} input_ids");
                if (labels.Any(t => t < 0 && t != PackedBatch.IgnoreIndex))
                    throw new DatasetFormatException(path, line, "'labels' holds a negative value other than -100");
            }
            return new TokenizedExample(line, inputIds, (int[])labels.Clone());
        }
    }

    private static int[] ReadInts(string path, int line, JsonElement e, string name)
    {
        if (e.ValueKind != JsonValueKind.Array) throw new DatasetFormatException(path, line, $"'{name}' is not an array");
        var values = new int[e.GetArrayLength()];
        int i = 0;
        foreach (var v in e.EnumerateArray())
        {
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out values[i]))
                throw new DatasetFormatException(path, line, $"'{name}'[{i}] is not a 32-bit integer");
            i++;
        }
        return values;
    }
}
