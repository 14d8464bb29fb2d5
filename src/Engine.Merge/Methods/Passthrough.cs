using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Execution;

namespace Engine.Merge.Methods;

/// <summary>Passthrough: the single model's tensor, optionally multiplied by its <c>scale</c>:
/// <c>merged = scale * M</c>. Source: mergekit/merge_methods/passthrough.py. With <c>slices</c> (one source
/// per slice) it stacks layers: a frankenmerge (see <see cref="Execution.SliceMap"/>).
/// Difference from mergekit: a stored value is copied bit-exactly when there is no scale and the dtypes match.
/// The scaling runs on the kernel contract (<see cref="IElementwiseKernels.LinearCombination"/> of one input).</summary>
public sealed class Passthrough : IMergeMethod
{
    /// <inheritdoc/>
    public string Name => "passthrough";
    /// <inheritdoc/>
    public string Formula => "merged = scale * M (exactly one model; M when no scale)";

    /// <inheritdoc/>
    public IReadOnlyList<MethodParameter> Parameters { get; } = new MethodParameter[]
    {
        new("scale", null, true, "factor applied to the model's tensor (optional)"),
    };

    /// <inheritdoc/>
    public bool RequiresBase => false;

    /// <inheritdoc/>
    public void Validate(MergeDocument document, string where, ImmutableArray<string>.Builder warnings)
    {
        int models = MethodRules.OthersCount(document) + (document.BaseModel == null ? 0 : 1);
        if (models != 1) throw new MergeConfigException($"{where}: passthrough takes exactly one model, found {models}");
        MethodRules.CheckParameters(this, document, where, warnings);
    }

    /// <inheritdoc/>
    public JsonObject Merge(TensorMergeInputs inputs, ITensorOutput output, IMergeKernels kernels, CancellationToken cancellation)
    {
        bool isBase = inputs.Base.HasValue;
        var x = inputs.Base ?? inputs.Others[0].Tensor;
        var scale = isBase ? inputs.GetBaseDouble("scale", double.NaN) : inputs.GetModelDouble(0, "scale", double.NaN);
        if (double.IsNaN(scale))
        {
            ElementwiseOps.Copy(output, x, cancellation);
            return new JsonObject { ["elements"] = x.Length };
        }
        ElementwiseOps.Combine(output, kernels, [x], [(float)scale], null, cancellation);
        return new JsonObject { ["elements"] = x.Length, ["scale"] = scale };
    }
}
