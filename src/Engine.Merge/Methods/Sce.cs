using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Execution;

namespace Engine.Merge.Methods;

/// <summary>SCE (Select, Calculate, Erase; Wan et al., arXiv:2408.07990). Task vectors <c>d_i = M_i - B</c>.
/// Select: when <c>select_topk &lt; 1</c>, keep the <c>floor(select_topk * nnz(var))</c> elements of largest
/// variance across the models (population variance), zero the rest in every d_i. Calculate:
/// <c>w_i = mean(d_i²) / Σ_j mean(d_j²)</c> (1/K each when that sum is under 1e-6). Erase: TIES sign election
/// on the unweighted sum. <c>merged = B + Σ_i m_i w_i d_i / max(Σ_i m_i w_i, 1e-6)</c>.
/// Source: mergekit/merge_methods/sce.py. Differences from mergekit: means of squares in float64, deltas in
/// float32 whatever the config dtype; ties in the variance ranking broken by position (torch.topk: unspecified);
/// <c>int8_mask</c> ignored; a NaN delta has no sign in the election (it threw before the contract moved).
/// Runs on the kernel contract: <see cref="IElementwiseKernels.DeltaVariance"/>, the ranking by
/// <see cref="IMergeKernels.SelectRanks"/> (KeepMask.RankWindow), <see cref="IElementwiseKernels.DeltaSquareSums"/>
/// over the selection and <see cref="IElementwiseKernels.SignElectedMean"/> per output chunk.</summary>
public sealed class Sce : IMergeMethod
{
    /// <inheritdoc/>
    public string Name => "sce";
    /// <inheritdoc/>
    public string Formula => "d_i = topk_var(M_i - B); w_i = mean(d_i^2)/sum_j mean(d_j^2); merged = B + sum_i m_i w_i d_i / max(sum_i m_i w_i, 1e-6) (sign election)";

    /// <inheritdoc/>
    public IReadOnlyList<MethodParameter> Parameters { get; } = new MethodParameter[]
    {
        new("int8_mask", false, false, "mergekit's mask storage switch; ignored with a warning"),
        new("select_topk", 1.0, false, "fraction of the highest-variance elements kept", Min: 0, Max: 1),
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
        int k = inputs.Others.Length;
        long n = b.Length;
        if (k == 0)
        {
            ElementwiseOps.Copy(output, b, cancellation);
            return new JsonObject { ["elements"] = n, ["models"] = 0 };
        }
        var models = inputs.Others.Select(o => o.Tensor).ToArray();
        double topk = inputs.GetDouble("select_topk", 1.0);
        KeepMask? select = null;
        if (topk <= 0) select = new KeepMask(n);
        else if (topk < 1) select = SelectByVariance(models, b, topk, kernels, cancellation);

        var squares = new double[k];
        kernels.DeltaSquareSums(squares, models, b, select?.Words);
        double total = squares.Sum() / Math.Max(1, n);
        var weights = squares.Select(s => (float)(Math.Abs(total) < 1e-6 ? 1.0 / k : s / Math.Max(1, n) / total)).ToArray();

        ElementwiseOps.ByChunk(output, models, b, (chunk, slices, @base, start) => kernels.SignElectedMean(chunk, slices, @base!.Value, weights, select?.Words, start), cancellation);
        var stats = new JsonObject
        {
            ["elements"] = n,
            ["models"] = k,
            ["weights"] = new JsonArray(weights.Select(w => (JsonNode)(double)w).ToArray()),
        };
        if (select is not null) stats["selected_fraction"] = (double)select.Count() / Math.Max(1, n);
        return stats;
    }

    /// <summary>The <c>floor(topk * nnz)</c> elements of largest variance of the deltas across the models.</summary>
    private static KeepMask SelectByVariance(RawTensor[] models, RawTensor b, double topk, IMergeKernels kernels, CancellationToken cancellation)
    {
        long n = b.Length;
        using var variance = new NativeArray<float>(n);
        long nonzero = kernels.DeltaVariance(variance, models, b);
        long keep = (long)(nonzero * topk);
        return KeepMask.RankWindow(variance, n - keep, n, kernels, cancellation);
    }
}
