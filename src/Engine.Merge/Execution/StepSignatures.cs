using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Engine.Core.Model;
using Engine.Merge.Config;

namespace Engine.Merge.Execution;

/// <summary>Canonical text of each stage of a batch's plans: two stages with the same signature compute the same
/// tensors bit for bit (same method, inputs, parameters, dtypes, precision, quantile mode and seed), so a batch
/// computes such a step once for all the jobs that have it. A stage input is a model's real path (symbolic links
/// resolved) or an earlier stage's signature; a stage's name is not part of it. Sliced stages and stages that
/// rebuild the vocabulary are never shared (null): their tensors do not map one to one onto the inputs'.</summary>
internal sealed class StepSignatures
{
    private readonly Dictionary<MergeStage, (string? Full, string? WithoutLambda)> _stages = new();
    private readonly ConcurrentDictionary<ModelDirectory, string> _models = new();

    /// <summary>Signs every stage of <paramref name="plans"/>.</summary>
    public StepSignatures(IEnumerable<MergePlan> plans)
    {
        foreach (var plan in plans)
        {
            foreach (var stage in plan.Stages) _stages[stage] = (Sign(stage, null), Sign(stage, "lambda"));
        }
    }

    public string? Of(MergeStage stage) => _stages.TryGetValue(stage, out var s) ? s.Full : null;

    /// <summary>The signature with the <c>lambda</c> parameter left out: Arcee Fusion's importance and quartiles do
    /// not depend on it.</summary>
    public string? WithoutLambda(MergeStage stage) => _stages.TryGetValue(stage, out var s) ? s.WithoutLambda : null;

    public string ModelKey(ModelDirectory model) => _models.GetOrAdd(model, m => OutputPaths.Real(m.Path));

    private string? Sign(MergeStage stage, string? omit)
    {
        if (stage.Slices != null || stage.Vocabulary != null) return null;
        var doc = stage.Document;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{stage.Method.Name}|dtype={doc.DType}|out={stage.OutDType}|{doc.ComputePrecision}|{doc.Quantiles}|seed={doc.Seed}");
        text.Append("|params=").Append(Canonical(doc.Parameters, omit));
        if (stage.Base is { } b)
        {
            if (Input(b) is not { } baseSignature) return null;
            var entry = doc.Models.FirstOrDefault(m => m.Model == doc.BaseModel)?.Parameters ?? ParameterSet.Empty;
            text.Append("|base=").Append(baseSignature).Append(';').Append(Canonical(entry, omit));
        }
        foreach (var (input, parameters) in stage.Others)
        {
            if (Input(input) is not { } inputSignature) return null;
            text.Append("|model=").Append(inputSignature).Append(';').Append(Canonical(parameters, omit));
        }
        return text.ToString();
    }

    private string? Input(InputRef input) => input switch
    {
        InputRef.Model m => "path:" + ModelKey(m.Directory),
        // An earlier stage is compared whole, lambda included: its output feeds this stage.
        InputRef.Stage s => Sign(s.Node, null) is { } inner ? "(" + inner + ")" : null,
        _ => throw new InvalidOperationException(),
    };

    private static string Canonical(ParameterSet set, string? omit)
    {
        var text = new StringBuilder("{");
        foreach (var (name, value) in set.Values.Where(v => v.Key != omit).OrderBy(v => v.Key, StringComparer.Ordinal))
            text.Append(name).Append('=').Append(Canonical(value)).Append(',');
        if (set.Fallback is { } fallback) text.Append("over:").Append(Canonical(fallback, omit));
        return text.Append('}').ToString();
    }

    private static string Canonical(ParameterSetting setting) => setting switch
    {
        ParameterSetting.Scalar { Value: double d } => "d:" + d.ToString("R", CultureInfo.InvariantCulture),
        ParameterSetting.Scalar s => s.Value.GetType().Name + ":" + Convert.ToString(s.Value, CultureInfo.InvariantCulture),
        ParameterSetting.Gradient g => "g[" + string.Join(",", g.Points.Select(p => p.ToString("R", CultureInfo.InvariantCulture))) + "]",
        ParameterSetting.Conditional c => "c[" + string.Join(",", c.Conditions.Select(x => (x.Filter ?? "*") + "->" + Canonical(x.Value))) + "]",
        _ => throw new InvalidOperationException($"unknown parameter setting {setting.GetType().Name}"),
    };
}
