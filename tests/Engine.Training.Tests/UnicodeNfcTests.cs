using System.Text.Json;
using System.Text.Json.Nodes;
using Engine.Testing;
using Engine.Training.Tokenization;

namespace Engine.Training.Tests;

/// <summary><see cref="UnicodeNfc"/> against Python's <c>unicodedata.normalize("NFC", ...)</c>
/// (tests/fixtures/nfc, written by make_nfc_cases.py).</summary>
public sealed class UnicodeNfcTests
{
    public static TheoryData<string> CaseNames()
    {
        var names = new TheoryData<string>();
        foreach (var (name, _, _) in Cases()) names.Add(name);
        return names;
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void MatchesPythonUnicodedata(string name)
    {
        var (_, text, expected) = Cases().Single(c => c.Name == name);
        string actual = UnicodeNfc.Normalize(text);
        if (actual == expected) return;
        // Pieces are space-separated and NFC never joins across a space: name the first piece that differs.
        var pieces = text.Split(' ').Zip(expected.Split(' '), actual.Split(' ')).First(p => p.Second != p.Third);
        Assert.Fail($"NFC of {Escaped(pieces.First)}: expected {Escaped(pieces.Second)}, got {Escaped(pieces.Third)}");
    }

    [Fact]
    public void TextAlreadyInNfcIsReturnedAsItIs()
    {
        const string text = "plain ASCII, Latin-1 caf\u00e9, CJK \u4f60\u597d, emoji \U0001F600";
        Assert.Equal(text, UnicodeNfc.Normalize(text));
        Assert.Same("ASCII only", UnicodeNfc.Normalize("ASCII only"));
    }

    [Fact]
    public void UnpairedSurrogatesBecomeReplacementCharacters()
    {
        Assert.Equal("a\ufffdb\ufffd\u00e9", UnicodeNfc.Normalize("a\ud800b\udc00e\u0301"));
    }

    private static IEnumerable<(string Name, string Text, string Nfc)> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Fixtures.Path("nfc", "nfc-cases.json")));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
            yield return (c.GetProperty("name").GetString()!, c.GetProperty("text").GetString()!, c.GetProperty("nfc").GetString()!);
    }

    private static string Escaped(string s) => JsonValue.Create(s).ToJsonString();
}
