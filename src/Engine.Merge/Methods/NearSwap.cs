using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Execution;

namespace Engine.Merge.Methods;

/// <summary>NearSwap: take the other model M where it is close to the base B, keep B where they differ:
/// <c>w = clamp(t / max(|B - M|, 1e-6), 0, 1)</c>, <c>merged = w M + (1 - w) B</c>, element-wise.
/// Source: mergekit/merge_methods/nearswap.py. Difference from mergekit: float32 math whatever the config dtype
/// (mergekit computes in the tensor dtype). Runs on the kernel contract: <see cref="IElementwiseKernels.NearSwap"/>
/// per output chunk.</summary>
public sealed class NearSwap : IMergeMethod
{
    /// <inheritdoc/>
    public string Name => "nearswap";
    /// <inheritdoc/>
    public string Formula => "w = clamp(t / max(|B - M|, 1e-6), 0, 1); merged = w M + (1 - w) B";

    /// <inheritdoc/>
    public IReadOnlyList<MethodParameter> Parameters { get; } = new MethodParameter[]
    {
        new("t", null, false, "distance under which M's value is taken", Required: true, Min: 0),
    };

    /// <inheritdoc/>
    public bool RequiresBase => true;

    /// <inheritdoc/>
    public void Validate(MergeDocument document, string where, ImmutableArray<string>.Builder warnings)
    {
        MethodRules.RequireBase(this, document, where);
        int others = MethodRules.OthersCount(document);
        if (others != 1) throw new MergeConfigException($"{where}: nearswap merges exactly one model into the base, found {others} besides base '{document.BaseModel}'");
        MethodRules.RequireGlobal(this, document, where, "t");
        MethodRules.CheckParameters(this, document, where, warnings);
    }

    /// <inheritdoc/>
    public JsonObject Merge(TensorMergeInputs inputs, ITensorOutput output, IMergeKernels kernels, CancellationToken cancellation)
    {
        var b = inputs.Base!.Value;
        var m = inputs.Others[0].Tensor;
        float t = (float)inputs.GetDouble("t", double.NaN);
        ElementwiseOps.ByChunk(output, [m], b, (chunk, models, @base, _) => kernels.NearSwap(chunk, models[0], @base!.Value, t), cancellation);
        return new JsonObject { ["elements"] = b.Length, ["t"] = (double)t };
    }
}
