using System.Text.Json.Nodes;
using Engine.Core;
using Engine.Core.Model;
using Engine.Merge;
using Engine.Pipeline.Planning;
using Engine.Pipeline.Recipes;
using Engine.Pipeline.Running;
using Engine.Testing;
using Engine.Training.Sft;
using Microsoft.Extensions.DependencyInjection;

namespace Engine.Pipeline.Tests;

/// <summary>A small experiment written into a temporary folder: a 1-layer random Qwen2 backbone (byte-level
/// tokenizer), two domains with a few generated question/answer rows each, and a recipe with one Arcee Fusion
/// merge and both controls. Each SFT takes a few optimizer steps, so a whole run takes seconds. <c>backbone</c>
/// replaces the recipe's backbone (say, <c>embedded:test</c>).</summary>
public sealed class TinyExperiment : IDisposable
{
    private readonly TempDirectory _temp = new();

    public TinyExperiment(string? extraSft = null, string? extraRecipe = null, string? extraMerges = null, string backbone = "models/backbone")
    {
        SyntheticCheckpoint.Write(Combine("models", "backbone"), SyntheticModelSpec.Tiny with { DType = DType.F32, Layers = 1 }, 7, null);
        WriteDomain("math", (a, b) => ($"{a}+{b}=?", $"Answer: {a + b}"));
        WriteDomain("words", (a, b) => ($"reverse {a}{b}", $"Answer: {b}{a}"));
        RecipePath = Combine("recipe.yml");
        File.WriteAllText(RecipePath, $$"""
            name: tiny
            backbone: {{backbone}}
            seed: 3
            domains:
              math:  { train: data/math/train.jsonl,  eval: data/math/eval.jsonl }
              words: { train: data/words/train.jsonl, eval: data/words/eval.jsonl }
            sft:
              lr: 1.0e-3
              lr_schedule: constant
              epochs: 2
              seq_len: 64
              batch_size: 2
              system: ""
              threads: 1
            {{extraSft ?? ""}}
            branches:
              words: { lr: 2.0e-3 }
            merges:
              - name: mw
                order: "math & words"
                method: arcee_fusion
                lambda: 1.5
            {{extraMerges ?? ""}}
            controls:
              mixture: true
              average: true
            eval:
              metric: exact_match
              max_new_tokens: 4
              batch: 4
            {{extraRecipe ?? ""}}
            """);
        OutputPath = Combine("out");
    }

    public string RecipePath { get; }
    public string OutputPath { get; }

    public string Combine(params string[] parts) => _temp.Combine(parts);

    public Recipe Recipe() => RecipeReader.Load(RecipePath);

    public PipelinePlan Plan() => PipelinePlan.Create(Recipe(), OutputPath);

    public static PipelineRunner Runner() =>
        new ServiceCollection().AddLogging().AddEngine().BuildServiceProvider().GetRequiredService<PipelineRunner>();

    /// <summary>Runs the plan and returns every event.</summary>
    public async Task<List<PipelineEvent>> RunAsync(PipelineRunOptions? options = null, CancellationToken cancellation = default, Action<PipelineEvent>? onEvent = null)
    {
        var events = new List<PipelineEvent>();
        var progress = new SyncProgress(e =>
        {
            events.Add(e);
            onEvent?.Invoke(e);
        });
        await Runner().RunAsync(Plan(), options ?? new PipelineRunOptions { Threads = 1 }, progress, cancellation);
        return events;
    }

    private void WriteDomain(string name, Func<int, int, (string Question, string Answer)> row)
    {
        Directory.CreateDirectory(Combine("data", name));
        var random = new Random(name.Length);
        foreach (var (split, rows) in new[] { ("train", 8), ("eval", 4) })
        {
            var lines = Enumerable.Range(0, rows).Select(_ =>
            {
                var (q, a) = row(random.Next(10), random.Next(10));
                return new JsonObject
                {
                    ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = q }, new JsonObject { ["role"] = "assistant", ["content"] = a }),
                }.ToJsonString();
            });
            File.WriteAllLines(Combine("data", name, $"{split}.jsonl"), lines);
        }
    }

    public void Dispose() => _temp.Dispose();

    private sealed class SyncProgress(Action<PipelineEvent> report) : IProgress<PipelineEvent>
    {
        public void Report(PipelineEvent value) => report(value);
    }
}
