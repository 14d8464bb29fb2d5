using Engine.Training.Evaluation;

namespace Engine.Training.Tests;

/// <summary>Exact match on text rows when the model's vocabulary is padded past its tokenizer's ids.</summary>
public sealed class ExactMatchEvaluatorTests
{
    /// <summary>Knows ids 0..IdLimit-1 only, as a tokenizer does beside a padded vocabulary; each id is one letter.</summary>
    private sealed class LettersTokenizer(int idLimit) : Tokenization.ITextTokenizer
    {
        public string Description => "letters";
        public int IdLimit => idLimit;
        public int? FindAddedToken(string content) => null;
        public int[] Encode(string text) => text.Select(c => c - 'a').ToArray();
        public string Decode(IEnumerable<int> ids) =>
            string.Concat(ids.Select(id => id < idLimit ? (char)('a' + id) : throw new ArgumentOutOfRangeException(nameof(ids), id, "unknown id")));
        public byte[] TokenBytes(int id) => System.Text.Encoding.UTF8.GetBytes(Decode([id]));
    }

    [Fact]
    public void IdsPastTheTokenizerDecodeToNothing()
    {
        var f = Qwen2Fixture.Load("untied_gqa");
        using var context = ComputeContext.CreateCpu(threads: 1);
        using var model = f.CreateModel(context, ComputeDType.Float32);
        var tokenizer = new LettersTokenizer(f.Config.VocabSize / 2);
        EvalPrompt[] prompts = [new(0, 1, [1, 2, 3], "abc", [0, 1, 2])];
        var options = new GenerationOptions(16, 1, []);
        var generated = GreedyGenerator.Generate(model, prompts.Select(p => p.Prompt).ToList(), options).Single().Tokens;
        Assert.Contains(generated, t => t >= tokenizer.IdLimit);

        var row = ExactMatchEvaluator.Evaluate(model, prompts, tokenizer, options).Single();

        Assert.Equal(tokenizer.Decode(generated.Where(t => t < tokenizer.IdLimit)), row.GeneratedText);
        Assert.Equal("abc", row.Reference);
    }
}
