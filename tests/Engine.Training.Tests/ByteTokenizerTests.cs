using Engine.Testing;
using Engine.Training.Tokenization;

namespace Engine.Training.Tests;

public sealed class ByteTokenizerTests
{
    [Fact]
    public void BytesAreIdsAndChatMLTokensFollow()
    {
        var tokenizer = new ByteTokenizer();

        Assert.Equal([257, 104, 105, 0xC3, 0xA9, 258, 10, 256], tokenizer.Encode("<|im_start|>hi\u00e9<|im_end|>\n<|endoftext|>"));
        Assert.Equal(259, tokenizer.IdLimit);
        Assert.Equal("a<|im_end|>\u00e9", tokenizer.Decode(tokenizer.Encode("a<|im_end|>\u00e9")));
    }

    [Fact]
    public void ModelWithoutTokenizerJsonGetsTheByteTokenizer()
    {
        using var temp = new TempDirectory();
        Assert.IsType<ByteTokenizer>(ModelTokenizer.Load(temp.Path, vocabSize: 259));
    }

    [Fact]
    public void ByteFallbackNeedsRoomInTheVocabulary()
    {
        using var temp = new TempDirectory();
        var e = Assert.Throws<TokenizerException>(() => ModelTokenizer.Load(temp.Path, vocabSize: 258));
        Assert.Contains("needs vocab_size >= 259", e.Message);
        Assert.Contains("config.json has 258", e.Message);
    }

    [Fact]
    public void TokenizerJsonWithIdsBeyondTheVocabularyIsAnError()
    {
        using var temp = new TempDirectory();
        File.Copy(TokenizerFixture.TokenizerJson, temp.Combine(ModelTokenizer.FileName));
        Assert.IsType<HuggingFaceTokenizer>(ModelTokenizer.Load(temp.Path, vocabSize: 525));
        var e = Assert.Throws<TokenizerException>(() => ModelTokenizer.Load(temp.Path, vocabSize: 524));
        Assert.Contains("ids go up to 524, beyond the model's vocab_size 524", e.Message);
    }
}
