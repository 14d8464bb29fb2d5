using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Execution;

namespace Engine.Merge.Methods;

/// <summary>NuSLERP: slerp between two models M_0, M_1 (or their task vectors <c>M_i - B</c> when a base is
/// given, the base added back after) at <c>t = w_1 / (w_0 + w_1)</c> (0.5 when the weights sum under 1e-6 in
/// magnitude). Per vector v_0, v_1: <c>cos = v_0·v_1 / (max(|v_0|, 1e-7) max(|v_1|, 1e-7))</c>,
/// <c>theta = acos(clamp(cos, -1, 1))</c>, <c>out = (sin((1-t) theta) v_0 + sin(t theta) v_1) / sin(theta)</c>, or
/// <c>v_0 + t (v_1 - v_0)</c> when <c>|sin(theta)| &lt; 1e-8</c> or the vectors are equal. The vectors are the whole tensor
/// (<c>nuslerp_flatten</c>, the default), else the rows of the last dimension, or with
/// <c>nuslerp_row_wise</c> the vectors along the first dimension.
/// Source: mergekit/merge_methods/nuslerp.py. Differences from mergekit: norms and dot products in float64 and
/// coefficients in double (mergekit: tensor dtype); equal vectors always take the lerp (a rounded cosine of
/// 1 - 1e-16 gives theta above mergekit's 1e-8 threshold), written <c>v_0 + t (v_1 - v_0)</c> so equal inputs
/// come back exactly. Runs on the kernel contract: <see cref="IElementwiseKernels.PairSums"/> (the four sums per
/// vector: whole tensor, rows or columns), the per-vector coefficients on the host, then
/// <see cref="IElementwiseKernels.SlerpBlend"/> per output chunk.</summary>
public sealed class NuSlerp : IMergeMethod
{
    /// <inheritdoc/>
    public string Name => "nuslerp";
    /// <inheritdoc/>
    public string Formula => "t = w_1/(w_0+w_1); out = [B +] (sin((1-t)theta) v_0 + sin(t theta) v_1)/sin(theta), v_i = M_i [- B], per tensor/row/column";

    /// <inheritdoc/>
    public IReadOnlyList<MethodParameter> Parameters { get; } = new MethodParameter[]
    {
        new("nuslerp_row_wise", false, false, "slerp the vectors along the first dimension (when not flattened)"),
        new("nuslerp_flatten", true, false, "slerp the whole tensor as one vector"),
        new("weight", null, true, "the model's weight; t = w_1 / (w_0 + w_1)", Required: true),
    };

    /// <inheritdoc/>
    public bool RequiresBase => false;

    /// <inheritdoc/>
    public void Validate(MergeDocument document, string where, ImmutableArray<string>.Builder warnings)
    {
        int others = MethodRules.OthersCount(document);
        if (others != 2)
            throw new MergeConfigException($"{where}: nuslerp merges exactly two models (plus an optional base_model), found {others}" + (document.BaseModel is { } b ? $" besides base '{b}'" : ""));
        MethodRules.RequirePerModel(this, document, where, "weight");
        MethodRules.CheckParameters(this, document, where, warnings);
    }

    /// <inheritdoc/>
    public JsonObject Merge(TensorMergeInputs inputs, ITensorOutput output, IMergeKernels kernels, CancellationToken cancellation)
    {
        if (inputs.Others.Length != 2) throw new MergeConfigException($"nuslerp: tensor '{inputs.TensorName}' needs exactly two models besides the base");
        double w0 = inputs.GetModelDouble(0, "weight", null), w1 = inputs.GetModelDouble(1, "weight", null);
        double t = Math.Abs(w0 + w1) < 1e-6 ? 0.5 : w1 / (w0 + w1);
        var x0 = inputs.Others[0].Tensor;
        var x1 = inputs.Others[1].Tensor;
        var b = inputs.Base;
        long n = x0.Length;
        var layout = VectorLayout.For(inputs.Shape, n, inputs.GetBool("nuslerp_flatten", true), inputs.GetBool("nuslerp_row_wise", false));

        // Per vector: |v0|², |v1|², v0·v1, |v0 - v1|² (zero exactly when the vectors are equal, where the rounded
        // cosine can still leave theta just above the colinearity threshold).
        var stats = new double[layout.Count * 4];
        kernels.PairSums(stats, x0, x1, b, layout.Count, layout.AlongFirst);
        var coefficients = new float[layout.Count * 2];
        var lerp = new ulong[(layout.Count + 63) / 64];
        int colinear = 0;
        for (long v = 0; v < layout.Count; v++)
        {
            double n0 = Math.Max(Math.Sqrt(stats[v * 4]), 1e-7), n1 = Math.Max(Math.Sqrt(stats[v * 4 + 1]), 1e-7);
            double theta = Math.Acos(Math.Clamp(stats[v * 4 + 2] / (n0 * n1), -1, 1)), sinTheta = Math.Sin(theta);
            if (Math.Abs(sinTheta) < 1e-8 || stats[v * 4 + 3] == 0)
            {
                lerp[v >> 6] |= 1UL << (int)(v & 63);
                colinear++;
            }
            coefficients[v * 2] = (float)(Math.Sin((1 - t) * theta) / sinTheta);
            coefficients[v * 2 + 1] = (float)(Math.Sin(t * theta) / sinTheta);
        }
        ElementwiseOps.ByChunk(output, [x0, x1], b, (chunk, pair, @base, start) =>
            kernels.SlerpBlend(chunk, pair[0], pair[1], @base, coefficients, lerp, (float)t, n, layout.Count, layout.AlongFirst, start), cancellation);
        return new JsonObject { ["elements"] = n, ["t"] = t, ["vectors"] = layout.Count, ["colinear_vectors"] = colinear };
    }
}
