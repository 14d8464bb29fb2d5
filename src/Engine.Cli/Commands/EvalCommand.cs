using System.CommandLine;
using System.Globalization;
using Engine.Core;
using Engine.Core.Model;
using Engine.Training;
using Engine.Training.Data;
using Engine.Training.Evaluation;

namespace Engine.Cli.Commands;

/// <summary><c>engine eval --model DIR --data FILE --metric exact_match|loss [options]</c>: a model's accuracy by
/// greedy generation (<see cref="ExactMatchEvaluator"/>) or its mean token loss on the assistant turns
/// (<see cref="LossEvaluator"/>, as <c>engine loss</c>), with a 95% bootstrap interval and tokens/s, on the native CPU
/// trainer in float32. Data as for <c>engine sft</c> (<see cref="DataOptions"/>). Output: <see cref="EvalOutput"/>.</summary>
public static class EvalCommand
{
    private static readonly Dictionary<string, EvalMetric> Metrics = new(StringComparer.Ordinal)
    {
        ["exact_match"] = EvalMetric.ExactMatch,
        ["loss"] = EvalMetric.Loss,
    };

    public static Command Create(IServiceProvider services)
    {
        var model = new Option<string>("--model") { Description = "HF model directory (config.json + safetensors)", Required = true };
        var data = new DataOptions();
        var metric = new Option<string>("--metric")
        {
            Description = "exact_match: greedy generation, the extracted answer against the reference's | loss: mean token loss on the assistant turns",
            Required = true,
        };
        var maxNewTokens = new Option<int>("--max-new-tokens") { Description = "exact_match: tokens generated per prompt at most", DefaultValueFactory = _ => 256 };
        var batchSize = new Option<int>("--batch-size") { Description = "exact_match: prompts decoded together", DefaultValueFactory = _ => 8 };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0 = all)", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "stdout: one JSON line per row, then one summary line" };
        var command = new Command("eval", "accuracy (greedy exact match) or mean loss of a model on a data file") { model, metric, maxNewTokens, batchSize, threads, json };
        data.AddTo(command);
        var device = new TrainerDeviceOption();
        device.AddTo(command);
        command.SetAction((parse, cancellation) => EngineCli.Guard(() =>
        {
            string name = command.Name;
            var chosen = Metrics.TryGetValue(parse.GetValue(metric)!, out var m)
                ? m : throw new EngineException($"{name}: --metric must be exact_match or loss, got '{parse.GetValue(metric)}'");
            int maxNew = AtLeast(parse.GetValue(maxNewTokens), 1, name, "--max-new-tokens");
            int batch = AtLeast(parse.GetValue(batchSize), 1, name, "--batch-size");
            int threadCount = AtLeast(parse.GetValue(threads), 0, name, "--threads");
            device.RequireCpu(parse, name, "its generation uses the decoder, which has no GPU path yet");
            string modelPath = parse.GetValue(model)!;
            var dataset = data.LoadDataset(parse, modelPath, name);
            using var directory = ModelDirectory.Open(modelPath);
            using var context = ComputeContext.CreateCpu(threadCount);
            using var qwen = Qwen2Model.Load(context, directory);
            var output = new EvalOutput(parse.GetValue(json));
            var summary = chosen == EvalMetric.Loss
                ? ModelEvaluator.Loss(qwen, dataset, loss => output.Row(loss, dataset.Examples[loss.Index].Line), cancellation)
                : ModelEvaluator.ExactMatch(qwen, directory, dataset, parse.GetValue(data.Data)!, maxNew, batch, output.Row, cancellation);
            output.Summary(summary);
            return Task.FromResult(0);
        }));
        return command;
    }

    private static int AtLeast(int value, int minimum, string command, string option) =>
        value >= minimum ? value : throw new EngineException($"{command}: {option} must be at least {minimum}, got {value.ToString(CultureInfo.InvariantCulture)}");
}
