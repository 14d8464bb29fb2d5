using System.CommandLine;
using System.Text.Json.Nodes;
using Engine.Pipeline.Planning;
using Engine.Pipeline.Recipes;
using Engine.Pipeline.Reporting;
using Engine.Pipeline.Running;
using Engine.Training.Distributed;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Engine.Cli.Commands;

/// <summary><c>engine pipeline RECIPE.yml --out DIR [--force STEP]... [--dry-run] [--json]</c>: Branch-Merge as one
/// job (<see cref="PipelineRunner"/>): SFT of every branch and the mixture, the merges and the average, every model
/// evaluated on every domain, the report. Finished steps are reused; under mpirun the SFT steps use every rank.</summary>
public static class PipelineCommand
{
    public static Command Create(IServiceProvider services)
    {
        var recipe = new Argument<string>("recipe") { Description = "the recipe (YAML; format in the README)" };
        var output = new Option<string>("--out") { Description = "output folder: steps/ (one folder per finished step), report.md, report.json, plots/", Required = true };
        var force = new Option<string[]>("--force") { Description = "redo this step (and every step that depends on it), even if finished; may be repeated", AllowMultipleArgumentsPerToken = false };
        var dryRun = new Option<bool>("--dry-run") { Description = "print the plan with each step's cache state; run nothing, write nothing" };
        var json = new Option<bool>("--json") { Description = "stdout: one JSON object per line for each event (plan, cached, started, progress, finished), then the report's path" };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0 = all cores; under mpirun SFT shares them by rank)", DefaultValueFactory = _ => 0 };
        var command = new Command("pipeline", "Branch-Merge as one job: SFT the branches, merge, evaluate every model on every domain, report") { recipe, output, force, dryRun, json, threads };
        command.SetAction((parse, cancellation) => EngineCli.Guard(() =>
        {
            using var world = TrainingWorld.FromEnvironment();
            return Task.FromResult(RankGuard.Run(world, () =>
            {
                bool lead = world.Rank == 0;
                bool asJson = parse.GetValue(json);
                var plan = PipelinePlan.Create(RecipeReader.Load(parse.GetValue(recipe)!), parse.GetValue(output)!, world.Size);
                var forced = parse.GetValue(force) ?? [];
                foreach (var id in forced) plan.Step(id);
                if (parse.GetValue(dryRun))
                {
                    if (lead) PipelineView.PrintPlan(plan, PipelineRunner.Status(plan, forced), asJson);
                    return 0;
                }
                var runner = services.GetRequiredService<PipelineRunner>();
                var options = new PipelineRunOptions { Force = forced, Threads = parse.GetValue(threads), World = world.IsDistributed ? world : null };
                try
                {
                    PipelineView.Run("pipeline", plan, forced, asJson || !lead, asJson && lead, progress => runner.RunAsync(plan, options, progress, cancellation).GetAwaiter().GetResult());
                }
                catch (OperationCanceledException)
                {
                    if (lead) Console.Error.WriteLine("engine pipeline: cancelled; finished steps are kept and a rerun resumes the step it was in (SFT from its newest checkpoint)");
                    return EngineCli.ExitCancelled;
                }
                if (lead) PipelineView.PrintReport(plan, asJson);
                return 0;
            }));
        }));
        return command;
    }

    /// <summary>One event as the JSON line <c>--json</c> prints.</summary>
    public static JsonObject EventJson(PipelineEvent e) => new()
    {
        ["event"] = e.Kind.ToString().ToLowerInvariant(),
        ["step"] = e.Step,
        ["description"] = e.Description,
        ["fraction"] = e.Fraction,
        ["detail"] = e.Detail,
        ["seconds"] = e.Seconds,
    };
}
