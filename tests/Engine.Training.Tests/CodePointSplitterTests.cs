using Engine.Training.Tokenization;

namespace Engine.Training.Tests;

/// <summary>The split regex sees code points outside the BMP as Rust's regex engines do.</summary>
public sealed class CodePointSplitterTests
{
    private const string Qwen2Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    [Theory]
    [InlineData("\U0001D400\U0001D401bc", new[] { "\U0001D400\U0001D401bc" })]
    [InlineData("x\U0001F600abc", new[] { "x", "\U0001F600abc" })]
    [InlineData("math \U0001D7CE\U0001D7CF", new[] { "math", " ", "\U0001D7CE", "\U0001D7CF" })]
    [InlineData("\U00020000\U00020001x 12", new[] { "\U00020000\U00020001x", " ", "1", "2" })]
    [InlineData("it's", new[] { "it", "'s" })]
    public void PiecesFollowCodePoints(string text, string[] expected)
    {
        var splitter = new CodePointSplitter(Qwen2Pattern);
        Assert.Equal(expected, splitter.PreTokenize(text).Select(p => text.Substring(p.Offset, p.Length)));
    }

    [Fact]
    public void TextBetweenMatchesIsAPieceOfItsOwn()
    {
        var splitter = new CodePointSplitter(@"\d+");
        Assert.Equal(["ab", "12", "c", "3"], splitter.PreTokenize("ab12c3").Select(p => "ab12c3".Substring(p.Offset, p.Length)));
    }

    [Fact]
    public void AnUnpairedSurrogateTokenizesAsTheReplacementCharacter()
    {
        var tokenizer = HuggingFaceTokenizer.Load(TokenizerFixture.TokenizerJson);
        Assert.Equal(tokenizer.Encode("a\ufffdb"), tokenizer.Encode("a\ud800b"));
    }
}
