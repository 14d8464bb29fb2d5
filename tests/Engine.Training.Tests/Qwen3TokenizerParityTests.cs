using Engine.Training.Tokenization;

namespace Engine.Training.Tests;

/// <summary>Our tokenizer on Qwen3's real tokenizer.json against Hugging Face <c>tokenizers</c>: special tokens,
/// the pre-tokenizer regex on code points outside the BMP, NFC, whitespace and control characters.</summary>
public sealed class Qwen3TokenizerParityTests
{
    [RequiresQwen3TokenizerFact]
    public void IdsMatchHuggingFaceTokenizersOnEveryCase()
    {
        TokenizerParity.AssertIdsMatch(HuggingFaceTokenizer.Load(Qwen3TokenizerFixture.VerifiedTokenizerJson()), Qwen3TokenizerFixture.Cases());
    }

    [RequiresQwen3TokenizerFact]
    public void DecodeGivesBackTheNormalizedText()
    {
        var tokenizer = HuggingFaceTokenizer.Load(Qwen3TokenizerFixture.VerifiedTokenizerJson());
        foreach (var (text, ids) in Qwen3TokenizerFixture.Cases())
            Assert.Equal(UnicodeNfc.Normalize(text), tokenizer.Decode(ids));
    }
}
