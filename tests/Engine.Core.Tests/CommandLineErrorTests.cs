using Engine.Testing;

namespace Engine.Core.Tests;

/// <summary>A command line the parser refuses (a value of the wrong type, a missing required option, a validator's
/// complaint, an unknown option or verb) is one stderr line in the house format, exit code 1 and nothing on stdout:
/// not the parser's message followed by the verb's whole help. <c>--help</c> itself still prints the help.</summary>
public sealed class CommandLineErrorTests
{
    /// <summary>The files named need not exist: the parse fails before any is opened.</summary>
    [Theory]
    [InlineData("--max-new-tokens", "eval", "--model", "m", "--data", "d.jsonl", "--metric", "exact_match", "--max-new-tokens", "abc")]
    [InlineData("--metric", "eval", "--model", "m", "--data", "d.jsonl")]
    [InlineData("--out", "sft", "--model", "m", "--data", "d.jsonl")]
    [InlineData("--out", "pipeline", "recipe.yml")]
    [InlineData("--show", "tokenize", "--model", "m", "--data", "d.jsonl", "--show", "-1")]
    [InlineData("--batch-tokens", "loss", "--model", "m", "--data", "d.jsonl", "--batch-tokens", "0")]
    [InlineData("--frobnicate", "inspect", "model", "--frobnicate")]
    [InlineData("--ovewrite", "merge", "c.yml", "--out", "o", "--ovewrite")]
    [InlineData("--threads", "merge", "c.yml", "--out", "o", "--threads", "many")]
    [InlineData("--bogus", "bench", "merge", "--bogus")]
    [InlineData("frobnicate", "frobnicate")]
    public void AParseErrorIsOneLineNamingTheOption(string offending, params string[] args)
    {
        var result = EngineProcess.Run(args);

        Assert.True(result.ExitCode == 1, $"exit {result.ExitCode}: {result.Stderr}");
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one stderr line, got:\n{result.Stderr}");
        Assert.StartsWith("engine: error: ", lines[0]);
        // The option itself, not a longer one that begins with it (--out is not --out-root).
        Assert.Matches($@"(^|[\s'])({System.Text.RegularExpressions.Regex.Escape(offending)})([\s']|$)", lines[0]);
        Assert.Equal("", result.Stdout);
    }

    [Fact]
    public void EveryErrorOfTheLineIsOnItWithWhereToReadTheOptions()
    {
        var result = EngineProcess.Run("eval", "--model", "m", "--max-new-tokens", "abc");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("engine: error: option '--metric' is required; cannot parse argument 'abc' for option '--max-new-tokens' as expected type 'int'; " +
            "option '--data' is required (engine eval --help lists the options)", result.Stderr.Trim());
    }

    [Theory]
    [InlineData("eval", "--max-new-tokens")]
    [InlineData("merge", "--out-root")]
    public void HelpStillPrintsTheHelpAndSucceeds(string verb, string option)
    {
        // Even beside what would be a parse error (a missing required option, a bad value), --help is help.
        var result = EngineProcess.Run(verb, "--help", "--threads", "many");

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("Usage:", result.Stdout);
        Assert.Contains(option, result.Stdout);
        Assert.Equal("", result.Stderr);
    }
}
