namespace Engine.Training.Tokenization;

/// <summary>Finds the tokenizer of a model directory: its <c>tokenizer.json</c> when there is one, else the
/// <see cref="ByteTokenizer"/>. Either way every id the tokenizer can produce must be below the model's
/// <c>vocab_size</c>, which is checked here once rather than per example.</summary>
public static class ModelTokenizer
{
    public const string FileName = "tokenizer.json";

    public static ITextTokenizer Load(string modelPath, int vocabSize)
    {
        string file = Path.Combine(modelPath, FileName);
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
