using System.CommandLine;
using Engine.Training.Distributed;
using Engine.Training.Sft;

namespace Engine.Cli.Commands;

/// <summary><c>engine sft --model DIR --data FILE.jsonl --out DIR [options]</c>: supervised fine-tuning on the
/// native CPU trainer. Data: JSONL rows, alpaca/sharegpt/messages through the model's tokenizer and the chat template,
/// or pre-tokenized (<see cref="DataOptions"/>).
/// Progress on stderr (<see cref="SftProgressView"/>); <c>OUT/metrics.jsonl</c>; checkpoints <c>OUT/checkpoint-STEP</c>.</summary>
public static class SftCommand
{
    public static Command Create(IServiceProvider services)
    {
        var model = new Option<string>("--model") { Description = "HF model directory to fine-tune", Required = true };
        var data = new DataOptions();
        var output = new Option<string>("--out") { Description = "output directory for checkpoints and metrics.jsonl", Required = true };
        var lr = new Option<double>("--lr") { Description = "peak learning rate", DefaultValueFactory = _ => 1e-5 };
        var schedule = new Option<string>("--lr-schedule") { Description = "constant | constant_with_warmup | cosine", DefaultValueFactory = _ => "cosine" };
        var warmup = new Option<double>("--warmup-ratio") { Description = "fraction of steps spent warming up", DefaultValueFactory = _ => 0.0 };
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 1 };
        var maxSteps = new Option<long>("--max-steps") { Description = "0 = from --epochs", DefaultValueFactory = _ => 0 };
        var batchSize = new Option<int>("--batch-size") { Description = "sequences (or packs) per micro-batch", DefaultValueFactory = _ => 1 };
        var gradAccum = new Option<int>("--grad-accum") { Description = "micro-batches per optimizer step", DefaultValueFactory = _ => 1 };
        var seqLen = new Option<int>("--seq-len") { DefaultValueFactory = _ => 2048 };
        var packing = new Option<string>("--packing")
        {
            Description = "none (one example per sequence) | greedy (in file order) | neat (best fit decreasing, fewest sequences); documents never see each other",
            DefaultValueFactory = _ => "greedy",
        };
        var beta1 = new Option<double>("--adam-beta1") { DefaultValueFactory = _ => 0.9 };
        var beta2 = new Option<double>("--adam-beta2") { DefaultValueFactory = _ => 0.999 };
        var eps = new Option<double>("--adam-eps") { DefaultValueFactory = _ => 1e-8 };
        var weightDecay = new Option<double>("--weight-decay") { DefaultValueFactory = _ => 0.0 };
        var maxGradNorm = new Option<double>("--max-grad-norm") { Description = "0 = no clipping", DefaultValueFactory = _ => 1.0 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 42 };
        var saveSteps = new Option<long>("--save-steps") { Description = "0 = only at the end", DefaultValueFactory = _ => 0 };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0 = all cores, shared by the ranks on this machine under mpirun)", DefaultValueFactory = _ => 0 };
        var resume = new Option<bool>("--resume") { Description = "continue from the newest checkpoint under --out (none there: start at step 0); the run's settings must match" };
        var overwrite = new Option<bool>("--overwrite-output-dir") { Description = "delete the checkpoints and metrics.jsonl of a previous run under --out and start over" };
        var zeroStage = new Option<int?>("--zero-stage")
        {
            Description = "under mpirun: 0 = every rank keeps all optimizer state (one all-reduce), 1 = each rank keeps its shard (reduce-scatter + all-gather); default 1 with several ranks",
        };
        var json = new Option<bool>("--json") { Description = "one JSON progress event per step on stdout (step, loss, lr, grad_norm, tokens, tokens_per_s, collective_s)" };
        var profile = new Option<string?>("--profile")
        {
            Description = "time every op (CPU) or kernel (CUDA) of one step (the run's second): a Chrome/Perfetto trace to this file, the slowest five in the log",
        };
        var command = new Command("sft", "supervised fine-tuning of a Qwen2 model on the CPU or a GPU (--device)")
        {
            model, output, lr, schedule, warmup, epochs, maxSteps, batchSize, gradAccum, seqLen, packing,
            beta1, beta2, eps, weightDecay, maxGradNorm, seed, saveSteps, threads, resume, overwrite, zeroStage, json, profile,
        };
        data.AddTo(command);
        var device = new TrainerDeviceOption();
        device.AddTo(command);
        command.SetAction((parse, cancellation) => EngineCli.Guard(() =>
        {
            using var world = TrainingWorld.FromEnvironment();
            return Task.FromResult(RankGuard.Run(world, () =>
            {
                // Only rank 0 speaks; the other ranks are silent unless they fail.
                bool lead = world.Rank == 0;
                void Log(string line)
                {
                    if (lead) Console.Error.WriteLine($"engine sft: {line}");
                }
                var trainerDevice = device.Resolve(parse, command.Name, world.LocalRank);
                SftOptions options;
                try
                {
                    options = new SftOptions(parse.GetValue(lr), SftOptionNames.ParseLrSchedule(parse.GetValue(schedule)!), parse.GetValue(warmup),
                        parse.GetValue(epochs), parse.GetValue(maxSteps), parse.GetValue(batchSize), parse.GetValue(gradAccum), parse.GetValue(seqLen),
                        SftOptionNames.ParsePacking(parse.GetValue(packing)!), parse.GetValue(beta1), parse.GetValue(beta2), parse.GetValue(eps),
                        parse.GetValue(weightDecay), parse.GetValue(maxGradNorm), parse.GetValue(seed), parse.GetValue(saveSteps), parse.GetValue(threads),
                        parse.GetValue(zeroStage));
                }
                catch (ArgumentException e)
                {
                    throw new Core.EngineException($"sft: {e.Message}");
                }
                var examples = data.Load(parse, parse.GetValue(model)!, command.Name, quiet: !lead);
                var (truncated, unscored) = SequencePacker.Truncation(examples, options.SeqLen);
                if (truncated > 0)
                    Log($"warning: {truncated} example(s) longer than --seq-len {options.SeqLen} are truncated" +
                        (unscored > 0 ? $"; {unscored} of them keep no assistant/label token and add nothing to the loss" : ""));
                string outDir = parse.GetValue(output)!;
                bool resuming = parse.GetValue(resume);
                if (resuming)
                {
                    Log(SftTrainer.NewestCheckpoint(outDir) is { } newest
                        ? $"resuming from {newest}"
                        : $"--resume: no checkpoint under {outDir}; starting at step 0");
                }
                try
                {
                    SftResult Train(IProgress<SftStepMetrics>? progress) => SftTrainer.Run(parse.GetValue(model)!, examples, outDir, options, resuming, progress,
                        cancellation, parse.GetValue(overwrite), world, Log, trainerDevice, parse.GetValue(profile));
                    var result = !lead ? Train(null) : parse.GetValue(json) ? Train(new JsonEvents()) : SftProgressView.Run(Train);
                    if (result.ResumedFromStep == result.Steps)
                        Log($"{result.FinalCheckpoint} already holds all {result.Steps} steps; nothing left to do");
                    else
                        Log($"{result.Steps} steps{(result.ResumedFromStep > 0 ? $" (resumed at {result.ResumedFromStep})" : "")}; final checkpoint {result.FinalCheckpoint}");
                    return 0;
                }
                catch (OperationCanceledException)
                {
                    // Checkpoints already written stay: say where a restart picks up.
                    Log($"cancelled; newest checkpoint: {SftTrainer.NewestCheckpoint(outDir) ?? "none"} (--resume continues from it)");
                    return EngineCli.ExitCancelled;
                }
            }));
        }));
        return command;
    }

    /// <summary>--json: each step as one JSON line on stdout, written whole and in order.</summary>
    private sealed class JsonEvents : IProgress<SftStepMetrics>
    {
        public void Report(SftStepMetrics m)
        {
            var line = MetricsLog.ToJson(m);
            line["total_steps"] = m.TotalSteps;
            Console.Out.WriteLine(line.ToJsonString());
        }
    }
}
