using Engine.Interop.Trainer;

namespace Engine.Training;

/// <summary>Incremental decoding on a <see cref="Qwen2Model"/>: per-layer K/V caches for a batch of sequences.
/// <see cref="Append(ReadOnlySpan{int}, ReadOnlySpan{int}, Span{int})"/> runs only the new tokens (a whole prompt, or
/// one generated token per sequence) and returns the argmax (and, if asked, the logits) of each grown sequence's
/// last token. A cached step computes what the model's full forward computes over the whole prefix, and sequences
/// never affect each other. Create it with <see cref="Qwen2Model.CreateDecoder"/>; dispose it before the model.</summary>
public sealed unsafe class Qwen2Decoder : IDisposable
{
    private readonly Qwen2Model _model;
    private readonly DecoderHandle _decoder;

    internal Qwen2Decoder(Qwen2Model model, DecoderHandle decoder)
    {
        _model = model;
        _decoder = decoder;
    }

    /// <summary>Empties every sequence (the caches stay allocated).</summary>
    public void Reset() => NativeTrainerException.Check(TrainerImports.eng_decoder_reset(_decoder));

    /// <summary>Tokens sequence <paramref name="sequence"/> holds so far.</summary>
    public int Length(int sequence)
    {
        NativeTrainerException.Check(TrainerImports.eng_decoder_length(out int length, _decoder, sequence));
        return length;
    }

    /// <summary>Appends <c>counts[s]</c> tokens to sequence <c>s</c> (taken from <paramref name="tokens"/> sequence after
    /// sequence; 0 leaves it as it is). <paramref name="nextTokens"/> (one per sequence) receives the argmax of each
    /// grown sequence's last logits, the lowest id on ties, and -1 for the others.</summary>
    public void Append(ReadOnlySpan<int> tokens, ReadOnlySpan<int> counts, Span<int> nextTokens) =>
        Append<float>(tokens, counts, nextTokens, default, EngDType.F32);

    /// <summary>As <see cref="Append(ReadOnlySpan{int}, ReadOnlySpan{int}, Span{int})"/>, also writing each grown
    /// sequence's last logits to its row of <paramref name="logits"/> (sequences x vocab; other rows untouched).</summary>
    public void Append(ReadOnlySpan<int> tokens, ReadOnlySpan<int> counts, Span<int> nextTokens, Span<float> logits) =>
        Append(tokens, counts, nextTokens, logits, EngDType.F32);

    /// <summary>As above with float64 logits (exact on a float64 model).</summary>
    public void Append(ReadOnlySpan<int> tokens, ReadOnlySpan<int> counts, Span<int> nextTokens, Span<double> logits) =>
        Append(tokens, counts, nextTokens, logits, EngDType.F64);

    /// <summary>Frees the native decoder and its key/value cache.</summary>
    public void Dispose() => _decoder.Dispose();

    private void Append<T>(ReadOnlySpan<int> tokens, ReadOnlySpan<int> counts, Span<int> nextTokens, Span<T> logits, EngDType dtype)
        where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(_model.Handle.IsClosed, _model);
        long total = 0;
        foreach (int c in counts) total += c;
        if (total != tokens.Length) throw new ArgumentException($"counts add up to {total}, but {tokens.Length} tokens were given");
        if (nextTokens.Length != counts.Length) throw new ArgumentException($"{nextTokens.Length} next tokens for {counts.Length} sequences");
        if (!logits.IsEmpty && logits.Length != (long)counts.Length * _model.Config.VocabSize)
            throw new ArgumentException($"logits span has {logits.Length} elements for {counts.Length} sequences x {_model.Config.VocabSize} vocabulary");
        fixed (int* t = tokens)
        fixed (int* c = counts)
        fixed (int* next = nextTokens)
        fixed (T* l = logits)
        {
            NativeTrainerException.Check(TrainerImports.eng_decoder_append(logits.IsEmpty ? null : l, dtype, next, _decoder, t, c,
                counts.Length, _model.Stream));
        }
    }
}
