using System.Text;
using Engine.Cli.Commands;

namespace Engine.Training.Tests;

/// <summary>How <c>engine tokenize</c> writes a token's bytes.</summary>
public sealed class TokenTextTests
{
    [Theory]
    [InlineData(new byte[] { 0xE4, 0xBD }, false, @"\xE4\xBD")]
    [InlineData(new byte[] { 0xA0, 0x41 }, false, @"\xA0A")]
    [InlineData(new byte[] { 0x20, 0xF0, 0x9F }, true, @" \xF0\x9F")]
    public void BytesThatAreNoWholeCharacterAreHexEscapes(byte[] bytes, bool escape, string expected)
    {
        Assert.Equal(expected, TokenText.Render(bytes, escape));
    }

    [Fact]
    public void TheHumanViewEscapesControlsAndBackslashes()
    {
        byte[] bytes = Encoding.UTF8.GetBytes("a\n\t\r\\\u0001é😀");
        Assert.Equal(@"a\n\t\r\\\u0001é😀", TokenText.Render(bytes, escape: true));
        Assert.Equal("a\n\t\r\\\u0001é😀", TokenText.Render(bytes, escape: false));
    }
}
