using Engine.Core;

namespace Engine.Training.Tokenization;

/// <summary>A model's tokenizer cannot be used: <c>tokenizer.json</c> is malformed or uses a feature we do not
/// implement, or its ids do not fit the model's <c>vocab_size</c>. The message names the file.</summary>
public sealed class TokenizerException : EngineException
{
    /// <summary>A tokenizer error; <paramref name="message"/> names the file.</summary>
    public TokenizerException(string message) : base(message) { }
    /// <summary>A tokenizer error caused by <paramref name="inner"/>.</summary>
    public TokenizerException(string message, Exception inner) : base(message, inner) { }
}
