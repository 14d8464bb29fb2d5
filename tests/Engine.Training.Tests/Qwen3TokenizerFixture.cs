using System.Security.Cryptography;
using System.Text.Json;
using Engine.Testing;

namespace Engine.Training.Tests;

/// <summary>Qwen3's real <c>tokenizer.json</c> and the ids Hugging Face <c>tokenizers</c> gives for hard strings
/// (tests/fixtures/qwen3-tokenizer). The 11 MB file is not committed: <c>fetch.sh</c> there puts it in the cache
/// folder read here; the committed <c>expected-ids.json</c> holds its SHA-256, so a different file fails loudly
/// instead of giving ids that cannot match.</summary>
internal static class Qwen3TokenizerFixture
{
    public const string FetchCommand = "bash tests/fixtures/qwen3-tokenizer/fetch.sh";

    /// <summary>Where <c>fetch.sh</c> writes the file: <c>$ENGINE_TOKENIZER_CACHE</c>, else
    /// <c>$XDG_CACHE_HOME/engine/tokenizers</c>, else <c>~/.cache/engine/tokenizers</c>; then <c>qwen3/tokenizer.json</c>.</summary>
    public static string TokenizerJson
    {
        get
        {
            string? cache = Environment.GetEnvironmentVariable("ENGINE_TOKENIZER_CACHE");
            if (string.IsNullOrEmpty(cache))
            {
                string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
                string root = string.IsNullOrEmpty(xdg) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache") : xdg;
                cache = Path.Combine(root, "engine", "tokenizers");
            }
            return Path.Combine(cache, "qwen3", "tokenizer.json");
        }
    }

    public static bool Available => File.Exists(TokenizerJson);

    /// <summary>The cached file, after checking it is the one the expected ids were made from.</summary>
    public static string VerifiedTokenizerJson()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(ExpectedIds));
        string expected = doc.RootElement.GetProperty("sha256").GetString()!;
        string actual = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(TokenizerJson)));
        Assert.True(expected == actual, $"{TokenizerJson} has SHA-256 {actual}, expected {expected}: delete it and run {FetchCommand}");
        return TokenizerJson;
    }

    public static IEnumerable<(string Text, int[] Ids)> Cases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(ExpectedIds));
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
            yield return (c.GetProperty("text").GetString()!, c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }

    private static string ExpectedIds => Fixtures.Path("qwen3-tokenizer", "expected-ids.json");
}

/// <summary>A fact that needs Qwen3's tokenizer.json in the cache (<see cref="Qwen3TokenizerFixture.FetchCommand"/>).</summary>
public sealed class RequiresQwen3TokenizerFactAttribute : FactAttribute
{
    public RequiresQwen3TokenizerFactAttribute()
    {
        if (!Qwen3TokenizerFixture.Available)
            Skip = $"Qwen3's tokenizer.json is not at {Qwen3TokenizerFixture.TokenizerJson}: run {Qwen3TokenizerFixture.FetchCommand}";
    }
}
