using System.Text;
using Engine.Core.Model;
using Engine.Core.Text;
using Engine.Testing;

namespace Engine.Core.Tests;

/// <summary>Text inputs are strict UTF-8: the first bad byte is an error with its line and byte offset.</summary>
public sealed class StrictUtf8Tests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Write(byte[] bytes)
    {
        string path = _dir.Combine("text");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void FirstBadByteIsNamedWithLineAndOffset()
    {
        // "ab\nc\xC3(\n": 0xC3 starts a two-byte sequence that '(' does not continue.
        string path = Write([(byte)'a', (byte)'b', (byte)'\n', (byte)'c', 0xC3, (byte)'(', (byte)'\n']);
        var e = Assert.Throws<InvalidTextException>(() => StrictUtf8.ReadFile(path));
        Assert.Equal((2, 4), (e.Line, e.ByteOffset));
        Assert.Contains($"{path}: line 2, byte offset 4: invalid UTF-8 (byte 0xC3)", e.Message);
        var lines = Assert.Throws<InvalidTextException>(() => StrictUtf8.ReadLines(path).ToList());
        Assert.Equal((2, 4), (lines.Line, lines.ByteOffset));
    }

    [Theory]
    [InlineData(new byte[] { 0xFF })]                    // never valid
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })]        // an encoded surrogate
    [InlineData(new byte[] { 0xC0, 0xAF })]              // an overlong '/'
    [InlineData(new byte[] { 0xE2, 0x82 })]              // cut short at the end of the file
    public void InvalidSequencesAreRefused(byte[] bad)
    {
        string path = Write([.. "ok\n"u8.ToArray(), .. bad]);
        var e = Assert.Throws<InvalidTextException>(() => StrictUtf8.ReadLines(path).ToList());
        Assert.Equal((2, 3), (e.Line, e.ByteOffset));
    }

    [Fact]
    public void ValidTextWithBomAndCrLfReadsAsTheFrameworkDoes()
    {
        string path = Write([0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("wörld 😀\r\nzwei\n\ndrei")]);
        Assert.Equal([(1, "wörld 😀"), (2, "zwei"), (3, ""), (4, "drei")], StrictUtf8.ReadLines(path).ToList());
        Assert.Equal(File.ReadAllText(path), StrictUtf8.ReadFile(path));
    }

    [Fact]
    public void ALineLongerThanTheReadBufferKeepsItsOffsets()
    {
        var bytes = Enumerable.Repeat((byte)'x', 200_000).Concat(new byte[] { (byte)'\n', (byte)'y', 0x80 }).ToArray();
        var e = Assert.Throws<InvalidTextException>(() => StrictUtf8.ReadLines(Write(bytes)).ToList());
        Assert.Equal((2, 200_002), (e.Line, e.ByteOffset));
    }

    [Fact]
    public void ConfigJsonWithInvalidUtf8IsRefused()
    {
        string path = Write([.. "{\"model_type\": \"q"u8.ToArray(), 0xFE, .. "\"}"u8.ToArray()]);
        var e = Assert.Throws<InvalidTextException>(() => ModelConfig.Load(path));
        Assert.Equal(17, e.ByteOffset);
    }
}
