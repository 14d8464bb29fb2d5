using System.Text;
using System.Text.Json;

namespace Engine.Training.Tests;

/// <summary>tests/fixtures/tokenizer: a synthetic Qwen2-style <c>tokenizer.json</c> and the ids Hugging Face
/// <c>tokenizers</c> gives for hard strings (written by make_tokenizer_fixture.mjs).</summary>
internal static class TokenizerFixture
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "fixtures", "tokenizer");

    public static string TokenizerJson => Path.Combine(Directory, "tokenizer.json");

    /// <summary>Whether this process can apply NFC (not under invariant globalization).</summary>
    public static bool RuntimeNormalizes => "e\u0301".Normalize(NormalizationForm.FormC) == "\u00e9";

    /// <summary>Each case's text and the ids we must produce: HF's, or where this process cannot apply NFC and NFC
    /// would change the text, HF's ids without the normalizer.</summary>
    public static IEnumerable<(string Text, int[] Ids)> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Directory, "expected-ids.json")));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var ids = !RuntimeNormalizes && c.TryGetProperty("ids_unnormalized", out var u) ? u : c.GetProperty("ids");
            yield return (c.GetProperty("text").GetString()!, ids.EnumerateArray().Select(e => e.GetInt32()).ToArray());
        }
    }
}
