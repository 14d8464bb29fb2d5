using System.CommandLine;
using Engine.Core;
using Engine.Pipeline.Planning;
using Engine.Pipeline.Recipes;
using Engine.Pipeline.Running;
using Engine.Training.Synthetic;
using Microsoft.Extensions.DependencyInjection;

namespace Engine.Cli.Commands;

/// <summary><c>engine demo [--dir DIR] [--size default|small] [--seed N] [--threads N] [--json]</c>: the embedded
/// Branch-Merge experiment (<see cref="SyntheticExperiment"/>, docs/experiment.md) as one job. It generates the three
/// domains, writes the recipe (<c>backbone: embedded:SIZE</c>) and runs it with <see cref="PipelineRunner"/>: the
/// pipeline's <c>backbone</c> step pre-trains the tiny backbone (cached in <c>DIR/SIZE-SEED/models/backbone-SIZE-SEED</c>),
/// then SFT of the math, coding and science experts and of the mixture control, both TinyR1 merge orders with Arcee
/// Fusion, the average control, every model evaluated on every domain, then the report. Every finished step is reused
/// by a later run; a killed run resumes the step it was in.</summary>
public static class DemoCommand
{
    /// <summary>The seed of the domains, the backbone and every SFT unless <c>--seed</c> says otherwise.</summary>
    public const int DefaultSeed = 1234;

    /// <summary>Trainer, merge and evaluation threads unless <c>--threads</c> says otherwise. One: these models are so
    /// small (hidden 64 to 96) that a second OpenMP thread gains little on an idle 2-core machine and loses badly when
    /// the cores are shared (docs/experiment.md, "Threads").</summary>
    public const int DefaultThreads = 1;

    public static Command Create(IServiceProvider services)
    {
        var dir = new Option<string>("--dir") { Description = "where the demo keeps its backbones, data, steps and report (default: ENGINE_DEMO_DIR or ~/.local/share/engine/demo)", DefaultValueFactory = _ => DefaultDirectory() };
        var size = new Option<string>("--size") { Description = "default (about 5 minutes on 2 cores) or small (about 30)", DefaultValueFactory = _ => ExperimentSize.Default.Name };
        var seed = new Option<int>("--seed") { Description = "seed of the domains, the backbone and every SFT", DefaultValueFactory = _ => DefaultSeed };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0 = all cores)", DefaultValueFactory = _ => DefaultThreads };
        var json = new Option<bool>("--json") { Description = "stdout: one JSON object per line for each event (as engine pipeline --json; pre-training is step 'backbone'), then the report's path" };
        var command = new Command("demo", "the embedded Branch-Merge experiment: pre-train a tiny backbone, SFT math, coding and science experts, merge them in both TinyR1 orders, compare with the mixture and average controls")
        {
            dir, size, seed, threads, json,
        };
        command.SetAction((parse, cancellation) => EngineCli.Guard(() =>
        {
            var layout = DemoLayout.Resolve(parse.GetValue(dir)!, ParseSize(parse.GetValue(size)!), parse.GetValue(seed));
            int threadCount = parse.GetValue(threads);
            if (threadCount < 0) throw new EngineException($"--threads must be >= 0 (0 = all cores), got {threadCount}");
            bool asJson = parse.GetValue(json);
            var runner = services.GetRequiredService<PipelineRunner>();
            var plan = Prepare(layout);
            try
            {
                PipelineView.Run("demo", plan, [], quiet: false, asJson,
                    progress => runner.RunAsync(plan, new PipelineRunOptions { Threads = threadCount }, progress, cancellation).GetAwaiter().GetResult());
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine("engine demo: cancelled; finished steps (and the backbone, once pre-trained) are kept, and a rerun resumes the step it was in");
                return Task.FromResult(EngineCli.ExitCancelled);
            }
            PipelineView.PrintReport(plan, asJson);
            if (!asJson) Console.Out.WriteLine($"experiment: {layout.RunPath} (recipe.yml, data/, steps/); backbone: {plan.BackbonePath}");
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>Writes the domains' files and the recipe, and plans it (the backbone is the plan's first step).</summary>
    private static PipelinePlan Prepare(DemoLayout layout)
    {
        var domains = SyntheticExperiment.WriteDomains(layout.DataPath, layout.Size, layout.Seed);
        string recipe = SyntheticExperiment.WriteRecipe(layout.RunPath, domains, layout.Size, layout.Seed);
        return PipelinePlan.Create(RecipeReader.Load(recipe), layout.RunPath);
    }

    private static ExperimentSize ParseSize(string name)
    {
        try
        {
            return ExperimentSize.Parse(name);
        }
        catch (ArgumentException e)
        {
            throw new EngineException($"--size: {e.Message}");
        }
    }

    private static string DefaultDirectory() =>
        Environment.GetEnvironmentVariable("ENGINE_DEMO_DIR") is { Length: > 0 } d ? d
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "engine", "demo");
}
