using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Execution;

namespace Engine.Merge.Methods;

/// <summary>Reinforced Agent Merging (RAM, arXiv:2601.13572): an element changed by one model only
/// (<c>|M_i - B| &gt; epsilon</c>) takes that change whole; changes shared by several models are averaged
/// over the models that changed it: <c>merged = B + Σ_i [|d_i| &gt; eps] d_i / max(1, Σ_i [|d_i| &gt; eps])</c>,
/// <c>d_i = M_i - B</c>. Source: mergekit/merge_methods/ram.py (<c>ram</c>; <c>ramplus_tl</c> is
/// <see cref="RamPlusTensorLocal"/>). Difference from mergekit: float32 math whatever the config dtype. Runs on the kernel
/// contract: <see cref="IElementwiseKernels.CountedAverage"/> per output chunk.</summary>
public sealed class Ram : IMergeMethod
{
    /// <inheritdoc/>
    public string Name => "ram";
    /// <inheritdoc/>
    public string Formula => "merged = B + sum_i [|d_i| > eps] d_i / max(1, count_i [|d_i| > eps]), d_i = M_i - B";

    /// <inheritdoc/>
    public IReadOnlyList<MethodParameter> Parameters { get; } = new MethodParameter[]
    {
        new("epsilon", 1e-5, false, "magnitude above which a delta counts as a change", Min: 0),
    };

    /// <inheritdoc/>
    public bool RequiresBase => true;

    /// <inheritdoc/>
    public void Validate(MergeDocument document, string where, ImmutableArray<string>.Builder warnings)
    {
        MethodRules.RequireBase(this, document, where);
        MethodRules.CheckParameters(this, document, where, warnings);
    }

    /// <inheritdoc/>
    public JsonObject Merge(TensorMergeInputs inputs, ITensorOutput output, IMergeKernels kernels, CancellationToken cancellation)
    {
        var b = inputs.Base!.Value;
        float epsilon = (float)inputs.GetDouble("epsilon", 1e-5);
        ElementwiseOps.ByChunk(output, inputs.Others.Select(o => o.Tensor).ToArray(), b,
            (chunk, models, @base, _) => kernels.CountedAverage(chunk, models, @base!.Value, epsilon), cancellation);
        return new JsonObject { ["elements"] = b.Length, ["epsilon"] = (double)epsilon };
    }
}
