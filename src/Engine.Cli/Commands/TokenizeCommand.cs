using System.CommandLine;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Engine.Training;
using Engine.Training.Data;
using Engine.Training.Tokenization;

namespace Engine.Cli.Commands;

/// <summary><c>engine tokenize --model DIR --data FILE [--template T] [--system S] [--show N] [--json]</c>: each row's
/// token ids, tokens and loss mask exactly as <c>engine sft</c> builds them (<see cref="DataOptions"/>, so the same
/// row formats, template and tokenizer), to check a template and a tokenizer before a long run. <c>--model</c> may be
/// a folder holding only <c>tokenizer.json</c>. Human view: the first rows, tokens grouped in runs with and without
/// loss, then totals; <c>--json</c>: one object per row.</summary>
public static class TokenizeCommand
{
    private static readonly JsonSerializerOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var model = new Option<string>("--model")
        {
            Description = "HF model directory, or a folder holding only its tokenizer.json",
            Required = true,
        };
        var show = new Option<int>("--show") { Description = "rows to show in the human view", DefaultValueFactory = _ => 3 };
        show.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 0) r.AddError("--show must be 0 or more");
        });
        var json = new Option<bool>("--json")
        {
            Description = "stdout: one JSON line per row, {\"line\", \"ids\", \"tokens\", \"labels\" (-100 = no loss), \"loss_mask\"}",
        };
        var data = new DataOptions();
        var command = new Command("tokenize", "token ids, tokens and loss mask of each row, as engine sft sees them") { model, show, json };
        data.AddTo(command);
        command.SetAction((parse, cancellation) => EngineCli.Guard(() =>
        {
            string modelPath = parse.GetValue(model)!;
            var dataset = data.LoadDataset(parse, modelPath, command.Name);
            // Pre-tokenized rows load no tokenizer; the view still needs one to write their tokens.
            var tokenizer = dataset.Tokenizer ?? ModelTokenizer.Load(modelPath, ModelTokenizer.ReadVocabSize(modelPath));
            using var stdout = new StreamWriter(Console.OpenStandardOutput(), new UTF8Encoding(false), 1 << 16);
            if (parse.GetValue(json)) WriteJson(stdout, dataset.Examples, tokenizer, cancellation);
            else WriteHuman(stdout, dataset.Examples, tokenizer, parse.GetValue(show));
            return Task.FromResult(0);
        }));
        return command;
    }

    private static void WriteJson(TextWriter stdout, IReadOnlyList<TokenizedExample> examples, ITextTokenizer tokenizer, CancellationToken cancellation)
    {
        foreach (var example in examples)
        {
            cancellation.ThrowIfCancellationRequested();
            var row = new
            {
                line = example.Line,
                ids = example.InputIds,
                tokens = example.InputIds.Select(id => TokenText.Render(tokenizer.TokenBytes(id), escape: false)),
                labels = example.Labels,
                loss_mask = example.Labels.Select(l => l == PackedBatch.IgnoreIndex ? 0 : 1),
            };
            stdout.WriteLine(JsonSerializer.Serialize(row, JsonOptions));
        }
    }

    private static void WriteHuman(TextWriter stdout, IReadOnlyList<TokenizedExample> examples, ITextTokenizer tokenizer, int show)
    {
        foreach (var example in examples.Take(show))
        {
            int labelled = example.Labels.Count(l => l != PackedBatch.IgnoreIndex);
            stdout.WriteLine($"line {example.Line}: {example.InputIds.Length} tokens, {labelled} with loss");
            // Consecutive tokens with the same mask share a line, so the trained spans stand out.
            for (int start = 0; start < example.InputIds.Length;)
            {
                bool trained = example.Labels[start] != PackedBatch.IgnoreIndex;
                int end = start;
                while (end < example.InputIds.Length && (example.Labels[end] != PackedBatch.IgnoreIndex) == trained) end++;
                var run = example.InputIds[start..end].Select(id => TokenText.Render(tokenizer.TokenBytes(id), escape: true));
                stdout.WriteLine($"  {(trained ? "loss   " : "no loss")} │{string.Join("│", run)}│");
                start = end;
            }
            stdout.WriteLine($"  ids     {string.Join(' ', example.InputIds)}");
            stdout.WriteLine();
        }
        long tokens = examples.Sum(e => (long)e.InputIds.Length);
        long labels = examples.Sum(e => (long)e.Labels.Count(l => l != PackedBatch.IgnoreIndex));
        int longest = examples.Max(e => e.InputIds.Length);
        stdout.WriteLine($"{examples.Count} rows ({Math.Min(show, examples.Count)} shown), {tokens} tokens, {labels} label tokens, longest row {longest} tokens");
    }
}
