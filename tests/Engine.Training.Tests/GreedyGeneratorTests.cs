using Engine.Training.Evaluation;

namespace Engine.Training.Tests;

/// <summary>Greedy generation against the full forward: every generated token is the argmax of the full forward's
/// logits over prompt + generated (the forward <c>engine loss</c> scores), and batching, stop tokens and the token
/// limit behave as documented.</summary>
public sealed class GreedyGeneratorTests
{
    private static int[][] Prompts(Qwen2Fixture f)
    {
        var random = new Random(11);
        return new[] { 3, 9, 1, 6 }.Select(n => Enumerable.Range(0, n).Select(_ => random.Next(f.Config.VocabSize)).ToArray()).ToArray();
    }

    [Theory]
    [InlineData("untied_gqa", ComputeDType.Float32)]
    [InlineData("tied_mqa", ComputeDType.Float32)]
    [InlineData("untied_gqa", ComputeDType.Float64)]
    public void GeneratedTokensAreTheArgmaxOfTheFullForward(string caseName, ComputeDType dtype)
    {
        var f = Qwen2Fixture.Load(caseName);
        using var context = ComputeContext.CreateCpu(threads: 2);
        using var model = f.CreateModel(context, dtype);
        var prompts = Prompts(f);
        var generations = GreedyGenerator.Generate(model, prompts, new GenerationOptions(12, 3, [])).ToList();
        int v = f.Config.VocabSize;
        Assert.Equal(Enumerable.Range(0, prompts.Length), generations.Select(g => g.Index));
        foreach (var g in generations)
        {
            Assert.Equal(StopReason.MaxNewTokens, g.Stop);
            Assert.Equal(12, g.Tokens.Length);
            int[] sequence = [.. prompts[g.Index], .. g.Tokens];
            var logits = new double[sequence.Length * v];
            model.Logits(PackedBatch.Single(sequence), logits);
            for (int j = 0; j < g.Tokens.Length; j++)
            {
                var row = logits.AsSpan((prompts[g.Index].Length + j - 1) * v, v).ToArray();
                int argmax = Array.IndexOf(row, row.Max());
                double gap = row.Max() - row.Where((_, i) => i != argmax).Max();
                Assert.True(argmax == g.Tokens[j], $"{caseName}/{dtype} prompt {g.Index} token {j}: generated {g.Tokens[j]}, full forward argmax {argmax} (margin {gap:E2})");
            }
        }
    }

    [Fact]
    public void BatchSizeChangesNoContinuation()
    {
        var f = Qwen2Fixture.Load("untied_gqa");
        using var context = ComputeContext.CreateCpu(threads: 2);
        using var model = f.CreateModel(context, ComputeDType.Float32);
        var prompts = Prompts(f);
        var one = GreedyGenerator.Generate(model, prompts, new GenerationOptions(10, 1, [])).ToList();
        var all = GreedyGenerator.Generate(model, prompts, new GenerationOptions(10, 4, [])).ToList();
        var three = GreedyGenerator.Generate(model, prompts, new GenerationOptions(10, 3, [])).ToList();
        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(one[i].Tokens, all[i].Tokens);
            Assert.Equal(one[i].Tokens, three[i].Tokens);
        }
    }

    [Fact]
    public void StopTokenEndsOnlyItsSequenceAndIsNotReturned()
    {
        var f = Qwen2Fixture.Load("tied_mqa");
        using var context = ComputeContext.CreateCpu(threads: 1);
        using var model = f.CreateModel(context, ComputeDType.Float32);
        var prompts = Prompts(f);
        var free = GreedyGenerator.Generate(model, prompts, new GenerationOptions(8, 4, [])).ToList();
        int stop = free[1].Tokens[3];
        var stopped = GreedyGenerator.Generate(model, prompts, new GenerationOptions(8, 4, [stop])).ToList();
        for (int i = 0; i < prompts.Length; i++)
        {
            int at = Array.IndexOf(free[i].Tokens, stop);
            var expected = at < 0 ? free[i].Tokens : free[i].Tokens[..at];
            Assert.Equal(expected, stopped[i].Tokens);
            Assert.Equal(at < 0 ? StopReason.MaxNewTokens : StopReason.StopToken, stopped[i].Stop);
            Assert.Equal(at < 0 ? 8 : at + 1, stopped[i].Produced);
        }
    }
}
