using System.Text.Json;
using Engine.Core;
using Engine.Core.Model;
using Engine.Core.Text;
using Engine.Training.Data.Formats;
using Engine.Training.Templates;
using Engine.Training.Tokenization;

namespace Engine.Training.Data;

/// <summary>The examples of a data file, and how many bad rows were skipped. <see cref="Tokenizer"/> is the tokenizer
/// used for text rows, or null when every row was pre-tokenized. <see cref="Conversations"/> holds, for each example,
/// the conversation of its text row (null for a pre-tokenized row), so evaluation can read the reference reply as text.</summary>
public sealed record LoadedDataset(IReadOnlyList<TokenizedExample> Examples, int SkippedRows, ITextTokenizer? Tokenizer,
    IReadOnlyList<Conversation?> Conversations);

/// <summary>Reads a JSONL data file for a model: one JSON object per line, blank lines skipped, the format of each
/// row told by its keys (<see cref="RowFormat"/>). The model directory may be a tokenizer-only folder (no config.json):
/// then pre-tokenized ids are not checked against a vocab_size. Text rows (alpaca, sharegpt, messages) become conversations and
/// go through the model's tokenizer (<see cref="ModelTokenizer"/>) and the chat template; pre-tokenized rows are
/// taken as they are. The tokenizer is loaded on the first text row, so pre-tokenized data needs none. A bad row is
/// a <see cref="DatasetFormatException"/> naming the file and line, or, with
/// <see cref="DatasetOptions.SkipBadRows"/>, counted in <see cref="LoadedDataset.SkippedRows"/>.</summary>
public static class SftDataset
{
    /// <summary>Reads every row of the JSONL file <paramref name="dataPath"/> into tokenized examples for the model at
    /// <paramref name="modelPath"/> (whose tokenizer text rows use).</summary>
    /// <exception cref="DatasetFormatException">A row is malformed (unless <see cref="DatasetOptions.SkipBadRows"/>) or the file
    /// cannot be read; the message names the file and line.</exception>
    public static LoadedDataset Load(string dataPath, string modelPath, DatasetOptions options)
    {
        int? vocabSize = ModelTokenizer.ReadVocabSize(modelPath);
        return Load(dataPath, vocabSize, () => ModelTokenizer.Load(modelPath, vocabSize), options);
    }

    /// <summary>Reads every row of <paramref name="dataPath"/> with <paramref name="tokenizer"/> for a model whose
    /// vocabulary has <paramref name="vocabSize"/> ids (null: pre-tokenized ids are not bounded): for a model that does
    /// not exist yet, such as a backbone still to be pre-trained, whose tokenizer is known.</summary>
    /// <exception cref="DatasetFormatException">As for <see cref="Load(string, string, DatasetOptions)"/>.</exception>
    public static LoadedDataset Load(string dataPath, ITextTokenizer tokenizer, int? vocabSize, DatasetOptions options) =>
        Load(dataPath, vocabSize, () => tokenizer, options);

    private static LoadedDataset Load(string dataPath, int? vocabSize, Func<ITextTokenizer> loadTokenizer, DatasetOptions options)
    {
        ITextTokenizer? tokenizer = null;
        IChatTemplate? template = null;
        var examples = new List<TokenizedExample>();
        var conversations = new List<Conversation?>();
        int lineNumber = 0, skipped = 0;
        if (!File.Exists(dataPath)) throw new EngineException($"{dataPath}: no such data file");
        // Strict: a row with invalid UTF-8 is an error naming its line and byte, never text with U+FFFD in it.
        foreach (var (number, line) in StrictUtf8.ReadLines(dataPath))
        {
            lineNumber = number;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = ParseJson(line);
                var format = RowFormats.Detect(doc.RootElement);
                if (format == RowFormat.PreTokenized)
                {
                    examples.Add(PreTokenizedFormat.Parse(doc.RootElement, lineNumber, vocabSize));
                    conversations.Add(null);
                    continue;
                }
                var conversation = RowFormats.ReadConversation(doc.RootElement, format);
                tokenizer ??= loadTokenizer();
                template ??= ChatTemplates.Create(options.Template, tokenizer, options.SystemPrompt);
                examples.Add(template.Apply(conversation, lineNumber));
                conversations.Add(conversation);
            }
            catch (FormatException) when (options.SkipBadRows)
            {
                skipped++;
            }
            catch (FormatException e)
            {
                throw new DatasetFormatException(dataPath, lineNumber, e.Message);
            }
        }
        if (examples.Count == 0)
            throw new DatasetFormatException(dataPath, lineNumber, skipped > 0 ? $"no valid examples ({skipped} bad rows skipped)" : "no examples in the file");
        return new LoadedDataset(examples, skipped, tokenizer, conversations);
    }

    private static JsonDocument ParseJson(string line)
    {
        try
        {
            return JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            throw new FormatException($"invalid JSON: {e.Message.Split('\n')[0]}", e);
        }
    }
}
