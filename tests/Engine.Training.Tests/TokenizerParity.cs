using System.Text.Json.Nodes;
using Engine.Training.Tokenization;

namespace Engine.Training.Tests;

/// <summary>Compares a tokenizer with reference ids and reports every case that differs, not just the first.</summary>
internal static class TokenizerParity
{
    public static void AssertIdsMatch(ITextTokenizer tokenizer, IEnumerable<(string Text, int[] Ids)> cases)
    {
        var failures = new List<string>();
        foreach (var (text, expected) in cases)
        {
            int[] actual = tokenizer.Encode(text);
            if (!actual.SequenceEqual(expected))
                failures.Add($"{JsonValue.Create(text).ToJsonString()}: expected [{string.Join(",", expected)}], got [{string.Join(",", actual)}]");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
