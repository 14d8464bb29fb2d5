using Engine.Core;
using Engine.Core.Model;

namespace Engine.Training.Tokenization;

/// <summary>Finds the tokenizer of a model directory: its <c>tokenizer.json</c> when there is one, else the
/// <see cref="ByteTokenizer"/>. Where the directory has a <c>config.json</c>, every id the tokenizer can produce must
/// be below its <c>vocab_size</c>, which is checked here once rather than per example. A folder holding only the
/// tokenizer files (no <c>config.json</c>) has no vocabulary bound: <c>engine tokenize</c> reads such folders.</summary>
public static class ModelTokenizer
{
    /// <summary>The Hugging Face tokenizer file of a model directory.</summary>
    public const string FileName = "tokenizer.json";

    /// <summary>The <c>vocab_size</c> of <paramref name="modelPath"/>'s <c>config.json</c>, or null when the folder
    /// has no <c>config.json</c>.</summary>
    public static int? ReadVocabSize(string modelPath)
    {
        if (!Directory.Exists(modelPath)) throw new ModelDirectoryException($"{modelPath}: no such directory");
        string config = Path.Combine(modelPath, "config.json");
        if (!File.Exists(config)) return null;
        return ModelConfig.Load(config).VocabSize ?? throw new ModelDirectoryException($"{modelPath}: config.json has no vocab_size");
    }

    /// <summary>The tokenizer of <paramref name="modelPath"/>; <paramref name="vocabSize"/> (from
    /// <see cref="ReadVocabSize"/>) bounds its ids when not null.</summary>
    public static ITextTokenizer Load(string modelPath, int? vocabSize)
    {
        string file = Path.Combine(modelPath, FileName);
        if (!File.Exists(file) && vocabSize == null)
            throw new TokenizerException($"{modelPath}: neither {FileName} nor config.json: no tokenizer to use (the byte-level fallback needs a model's config.json)");
        ITextTokenizer tokenizer = File.Exists(file) ? HuggingFaceTokenizer.Load(file) : new ByteTokenizer();
        if (tokenizer.IdLimit > vocabSize)
        {
            throw new TokenizerException(tokenizer is ByteTokenizer
                ? $"{modelPath}: no {FileName}, and the byte-level fallback needs vocab_size >= {tokenizer.IdLimit} (256 bytes + ChatML tokens), but config.json has {vocabSize}"
                : $"{file}: ids go up to {tokenizer.IdLimit - 1}, beyond the model's vocab_size {vocabSize} (config.json)");
        }
        return tokenizer;
    }
}
