using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Execution;

namespace Engine.Merge.Methods;

/// <summary>Model Stock (Jang et al., arXiv:2403.19522): with base W0 and N fine-tuned W_i, offsets
/// <c>o_i = W_i - W0</c>, <c>cos = mean over pairs i &lt; j of clamp(o_i·o_j / max(|o_i||o_j|, 1e-6), -1, 1)</c>,
/// <c>t = N cos / (1 + (N - 1) cos)</c>, <c>merged = t mean_i(W_i) + (1 - t) W0</c>. The whole tensor is one
/// vector, or each row of the last dimension is one when <c>filter_wise</c> (a 1-D tensor is one row).
/// Source: mergekit/merge_methods/model_stock.py. Differences from mergekit: dot products and norms in float64
/// (mergekit: tensor dtype); where <c>1 + (N - 1) cos = 0</c> makes t infinite (mergekit writes inf/NaN) we
/// keep the base (t = 0); the blend is written <c>W0 + Σ_i (t/N) (W_i - W0)</c> (mathematically the same), so
/// models equal to the base return it exactly.
/// Runs on the kernel contract: <see cref="IElementwiseKernels.Gram"/> of the offsets (per row with
/// <c>filter_wise</c>), then <see cref="IElementwiseKernels.LinearCombination"/>, or with <c>filter_wise</c>
/// <see cref="IElementwiseKernels.SegmentedLinearCombination"/> (one t per row).</summary>
public sealed class ModelStock : IMergeMethod
{
    /// <inheritdoc/>
    public string Name => "model_stock";
    /// <inheritdoc/>
    public string Formula => "t = N cos / (1 + (N-1) cos), cos = mean pairwise cos(W_i - W0, W_j - W0); merged = t mean_i W_i + (1 - t) W0";

    /// <inheritdoc/>
    public IReadOnlyList<MethodParameter> Parameters { get; } = new MethodParameter[]
    {
        new("filter_wise", false, false, "one t per row of the last dimension instead of one per tensor"),
    };

    /// <inheritdoc/>
    public bool RequiresBase => true;

    /// <inheritdoc/>
    public void Validate(MergeDocument document, string where, ImmutableArray<string>.Builder warnings)
    {
        MethodRules.RequireBase(this, document, where);
        int others = MethodRules.OthersCount(document);
        if (others < 2) throw new MergeConfigException($"{where}: model_stock needs at least two models besides base '{document.BaseModel}', found {others}");
        MethodRules.CheckParameters(this, document, where, warnings);
    }

    /// <inheritdoc/>
    public JsonObject Merge(TensorMergeInputs inputs, ITensorOutput output, IMergeKernels kernels, CancellationToken cancellation)
    {
        var w0 = inputs.Base!.Value;
        int n = inputs.Others.Length;
        long length = w0.Length;
        if (n < 2) throw new MergeConfigException($"model_stock: tensor '{inputs.TensorName}' needs at least two models besides the base");
        bool filterWise = inputs.GetBool("filter_wise", false);
        int rowLength = filterWise ? inputs.RowLength : 0;
        long rows = filterWise ? (rowLength == 0 ? 0 : length / rowLength) : 1;
        var ts = new float[rows];

        var others = inputs.Others.Select(o => o.Tensor).ToArray();
        if (!filterWise)
        {
            ts[0] = Interpolation(ElementwiseOps.Gram(kernels, others, w0), n);
            ElementwiseOps.Combine(output, kernels, others, Enumerable.Repeat(ts[0] / n, n).ToArray(), w0, cancellation);
        }
        else
        {
            var g = new double[rows * n * n];
            if (rows > 0) kernels.Gram(g, others, w0, rowLength);
            for (long row = 0; row < rows; row++) ts[row] = Interpolation(g.AsSpan((int)(row * n * n), n * n), n);
            // One t per row, the coefficient t/N of every model in the row's segment.
            var coefficients = new float[rows * n];
            for (long row = 0; row < rows; row++) Array.Fill(coefficients, ts[row] / n, (int)(row * n), n);
            ElementwiseOps.ByChunk(output, others, w0, (chunk, models, @base, start) =>
                kernels.SegmentedLinearCombination(chunk, models, coefficients, @base, Math.Max(1, rowLength), start), cancellation);
        }
        var stats = new JsonObject { ["elements"] = length, ["models"] = n, ["filter_wise"] = filterWise };
        if (!filterWise) stats["t"] = (double)ts[0];
        else if (rows > 0) stats["t_mean"] = ts.Average(t => (double)t);
        return stats;
    }

    /// <summary>t from the Gram matrix of the offsets (upper triangle filled).</summary>
    private static float Interpolation(ReadOnlySpan<double> gram, int n)
    {
        double sum = 0;
        int pairs = 0;
        for (int i = 0; i < n; i++)
        {
            for (int j = i + 1; j < n; j++)
            {
                double norms = Math.Sqrt(gram[i * n + i]) * Math.Sqrt(gram[j * n + j]);
                sum += Math.Clamp(gram[i * n + j] / Math.Max(norms, 1e-6), -1, 1);
                pairs++;
            }
        }
        double cos = sum / pairs;
        double t = n * cos / (1 + (n - 1) * cos);
        return double.IsFinite(t) ? (float)t : 0f;
    }
}
