using System.Text;
using Engine.Core;
using Engine.Merge.Config;

namespace Engine.Merge.Execution;

/// <summary>The README.md model card of a merged model: what was merged, how, and the config.</summary>
internal static class ModelCard
{
    public static string Render(MergePlan plan, MergeStage stage, MergeConfig config)
    {
        var sb = new StringBuilder();
        var models = plan.Stages.Take(stage.Index + 1).SelectMany(s => s.Inputs).OfType<InputRef.Model>().Select(m => m.Label).Distinct().ToList();
        sb.AppendLine("---");
        if (stage.Base != null) sb.AppendLine($"base_model: {stage.Base.Label}");
        sb.AppendLine("library_name: transformers");
        sb.AppendLine("tags:");
        sb.AppendLine("- merge");
        sb.AppendLine("- engine");
        foreach (var method in plan.Stages.Take(stage.Index + 1).Select(s => s.Method.Name).Distinct()) sb.AppendLine($"- {method}");
        sb.AppendLine("---");
        sb.AppendLine($"# {Path.GetFileName(stage.Label)}");
        sb.AppendLine();
        sb.AppendLine("This model was merged with Engine (Branch-Merge distillation).");
        sb.AppendLine();
        sb.AppendLine("## Merge details");
        foreach (var s in plan.Stages.Take(stage.Index + 1))
        {
            string inputs = string.Join(", ", s.Others.Select(o => $"`{o.Input.Label}`"));
            sb.AppendLine(s.Base is null
                ? $"- `{s.Label}`: {s.Method.Name} of {inputs}, stored as {s.OutDType.TorchName()}"
                : $"- `{s.Label}`: {s.Method.Name} of {inputs} into base `{s.Base.Label}`, stored as {s.OutDType.TorchName()}");
        }
        sb.AppendLine();
        sb.AppendLine("### Models merged");
        foreach (var m in models) sb.AppendLine($"- `{m}`");
        sb.AppendLine();
        sb.AppendLine("### Configuration");
        sb.AppendLine();
        sb.AppendLine("```yaml");
        sb.AppendLine(config.Text.TrimEnd());
        sb.AppendLine("```");
        return sb.ToString();
    }
}
