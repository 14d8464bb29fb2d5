using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Execution;

namespace Engine.Merge.Methods;

/// <summary>SLERP between the base B (t = 0) and the other model M (t = 1), the whole tensor as one vector:
/// <c>dot = (B/|B|)·(M/|M|)</c>, <c>theta = acos(dot)</c>,
/// <c>merged = sin((1-t) theta)/sin(theta) B + sin(t theta)/sin(theta) M</c>; when <c>|dot| &gt; 0.9995</c>
/// the vectors count as colinear and <c>merged = B + t (M - B)</c>. A norm at or below 1e-8 is not divided.
/// Source: mergekit/merge_methods/slerp.py. Differences from mergekit: mergekit copies both tensors to the
/// CPU and runs numpy in float32 (sums included); we take the norms and the dot product in float64 on the
/// engine's own path and write the requested dtype, and the lerp is written <c>B + t (M - B)</c> so that
/// merging a model with itself returns it exactly.
/// Runs on the kernel contract: the norms and the dot product are one <see cref="IElementwiseKernels.Gram"/>
/// pass, the blend one <see cref="IElementwiseKernels.LinearCombination"/> (the lerp as <c>B + t (M - B)</c>).</summary>
public sealed class Slerp : IMergeMethod
{
    /// <summary>Above this <c>|dot|</c> the vectors count as colinear and SLERP falls back to the lerp <c>B + t (M - B)</c> (mergekit's 0.9995).</summary>
    public const double DotThreshold = 0.9995;
    /// <summary>A norm at or below this is not divided by (the vector is used as is).</summary>
    public const double Epsilon = 1e-8;

    /// <inheritdoc/>
    public string Name => "slerp";
    /// <inheritdoc/>
    public string Formula => "merged = sin((1-t)theta)/sin(theta) B + sin(t theta)/sin(theta) M, cos(theta) = B.M/(|B||M|); lerp when |cos| > 0.9995";

    /// <inheritdoc/>
    public IReadOnlyList<MethodParameter> Parameters { get; } = new MethodParameter[]
    {
        new("t", null, false, "interpolation position: 0 = base, 1 = the other model", Required: true),
    };

    /// <inheritdoc/>
    public bool RequiresBase => true;

    /// <inheritdoc/>
    public void Validate(MergeDocument document, string where, ImmutableArray<string>.Builder warnings)
    {
        MethodRules.RequireBase(this, document, where);
        int others = MethodRules.OthersCount(document);
        if (others > 1) throw new MergeConfigException($"{where}: slerp merges exactly two models (the base and one other), found {others} besides base '{document.BaseModel}'");
        MethodRules.RequireGlobal(this, document, where, "t");
        MethodRules.CheckParameters(this, document, where, warnings);
    }

    /// <inheritdoc/>
    public JsonObject Merge(TensorMergeInputs inputs, ITensorOutput output, IMergeKernels kernels, CancellationToken cancellation)
    {
        var b = inputs.Base!.Value;
        if (inputs.Others.Length == 0)
        {
            ElementwiseOps.Copy(output, b, cancellation);
            return new JsonObject { ["elements"] = b.Length };
        }
        var m = inputs.Others[0].Tensor;
        double t = inputs.GetDouble("t", double.NaN);
        var g = ElementwiseOps.Gram(kernels, [b, m], null);
        var (c0, c1, dot, lerp) = Coefficients(t, Math.Sqrt(g[0]), Math.Sqrt(g[3]), g[1]);
        if (lerp) ElementwiseOps.Combine(output, kernels, [m], [(float)t], b, cancellation);
        else ElementwiseOps.Combine(output, kernels, [b, m], [(float)c0, (float)c1], null, cancellation);
        return new JsonObject { ["elements"] = b.Length, ["t"] = t, ["cos_theta"] = dot, ["lerp"] = lerp };
    }

    /// <summary>The slerp coefficients of B and M for norms <paramref name="normB"/>, <paramref name="normM"/> and
    /// dot product <paramref name="dotBM"/>; <c>Lerp</c> when the directions are (anti)colinear.</summary>
    public static (double CB, double CM, double Cos, bool Lerp) Coefficients(double t, double normB, double normM, double dotBM)
    {
        double dot = dotBM / ((normB > Epsilon ? normB : 1) * (normM > Epsilon ? normM : 1));
        if (Math.Abs(dot) > DotThreshold) return (1 - t, t, dot, true);
        double theta = Math.Acos(dot), sinTheta = Math.Sin(theta);
        return (Math.Sin(theta - theta * t) / sinTheta, Math.Sin(theta * t) / sinTheta, dot, false);
    }
}
