using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Engine.Core.Model;
using Engine.Training;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary><c>engine loss --model DIR --data FILE [--json]</c>: the mean token loss of every example (labels
/// shifted left, -100 ignored) and the overall mean (total loss over total scored tokens), on the native CPU
/// trainer in float32. Data: JSONL rows, alpaca/sharegpt/messages through the model's tokenizer and the chat
/// template (loss on assistant turns), or pre-tokenized (<see cref="DataOptions"/>).</summary>
public static class LossCommand
{
    public static Command Create(IServiceProvider services)
    {
        var model = new Option<string>("--model") { Description = "HF model directory (config.json + safetensors)", Required = true };
        var data = new DataOptions();
        var json = new Option<bool>("--json") { Description = "stdout: one JSON line per example, {\"index\": i, \"loss\": x, \"tokens\": n}" };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0 = all)", DefaultValueFactory = _ => 0 };
        var batchTokens = new Option<int>("--batch-tokens") { Description = "tokens packed per forward pass", DefaultValueFactory = _ => 4096 };
        batchTokens.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 1) r.AddError("--batch-tokens must be at least 1");
        });
        var command = new Command("loss", "mean token loss of every example of a data file") { model, json, threads, batchTokens };
        data.AddTo(command);
        var device = new TrainerDeviceOption();
        device.AddTo(command);
        command.SetAction((parse, cancellation) => EngineCli.Guard(() =>
        {
            var trainerDevice = device.Resolve(parse, command.Name);
            var examples = data.Load(parse, parse.GetValue(model)!, command.Name);
            using var directory = ModelDirectory.Open(parse.GetValue(model)!);
            using var context = trainerDevice.CreateContext(parse.GetValue(threads));
            using var qwen = Qwen2Model.Load(context, directory);
            bool asJson = parse.GetValue(json);
            var table = new Table().AddColumns("index", "line", "loss", "tokens");
            double total = 0;
            long totalTokens = 0;
            foreach (var loss in LossEvaluator.Evaluate(qwen, examples, parse.GetValue(batchTokens), cancellation))
            {
                total += loss.LossSum;
                totalTokens += loss.ScoredTokens;
                if (asJson)
                {
                    var line = new JsonObject { ["index"] = loss.Index, ["loss"] = loss.Loss, ["tokens"] = loss.ScoredTokens };
                    Console.Out.WriteLine(line.ToJsonString());
                }
                else
                {
                    table.AddRow(loss.Index.ToString(CultureInfo.InvariantCulture), examples[loss.Index].Line.ToString(CultureInfo.InvariantCulture),
                        loss.Loss?.ToString("F6", CultureInfo.InvariantCulture) ?? "-", loss.ScoredTokens.ToString(CultureInfo.InvariantCulture));
                }
            }
            if (!asJson)
            {
                AnsiConsole.Write(table);
                string mean = totalTokens > 0 ? (total / totalTokens).ToString("F6", CultureInfo.InvariantCulture) : "-";
                AnsiConsole.MarkupLine(Markup.Escape($"{examples.Count} examples, {totalTokens} scored tokens, mean loss {mean}"));
            }
            return Task.FromResult(0);
        }));
        return command;
    }
}
