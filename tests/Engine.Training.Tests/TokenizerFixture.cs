using System.Text.Json;

namespace Engine.Training.Tests;

/// <summary>tests/fixtures/tokenizer: a synthetic Qwen2-style <c>tokenizer.json</c> and the ids Hugging Face
/// <c>tokenizers</c> gives for hard strings (written by make_tokenizer_fixture.mjs).</summary>
internal static class TokenizerFixture
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "fixtures", "tokenizer");

    public static string TokenizerJson => Path.Combine(Directory, "tokenizer.json");

    /// <summary>Each case's text and the ids Hugging Face tokenizers gives for it.</summary>
    public static IEnumerable<(string Text, int[] Ids)> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Directory, "expected-ids.json")));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            yield return (c.GetProperty("text").GetString()!, c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        }
    }
}
