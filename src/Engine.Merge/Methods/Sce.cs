using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Kernels.Cpu;
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
/// <c>int8_mask</c> ignored. Runs on the CPU (ElementwiseOps) but for the variance ranking
/// (<see cref="IMergeKernels.SelectRanks"/>): its variance pass and its combine (sign election on unweighted deltas,
/// divisor floored at 1e-6) are not among the <see cref="IElementwiseKernels"/> primitives yet.</summary>
public sealed class Sce : IMergeMethod
{
    public string Name => "sce";
    public string Formula => "d_i = topk_var(M_i - B); w_i = mean(d_i^2)/sum_j mean(d_j^2); merged = B + sum_i m_i w_i d_i / max(sum_i m_i w_i, 1e-6) (sign election)";

    public IReadOnlyList<MethodParameter> Parameters { get; } = new MethodParameter[]
    {
        new("int8_mask", false, false, "mergekit's mask storage switch; ignored with a warning"),
        new("select_topk", 1.0, false, "fraction of the highest-variance elements kept"),
    };

    public bool RequiresBase => true;

    public void Validate(MergeDocument document, string where, ImmutableArray<string>.Builder warnings)
    {
        MethodRules.RequireBase(this, document, where);
        MethodRules.WarnIgnored(this, document, where, warnings);
    }

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
        double topk = inputs.GetDouble("select_topk", 1.0);
        KeepMask? select = null;
        if (topk <= 0) select = new KeepMask(n);
        else if (topk < 1) select = SelectByVariance(inputs, topk, kernels, cancellation);

        var squares = ElementwiseOps.Sum(n, k, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, count, sums) =>
        {
            using var scratch = new BlockScratch(count);
            var baseValues = scratch.Read(b, start);
            for (int i = 0; i < k; i++)
            {
                var d = scratch.Read(inputs.Others[i].Tensor, start);
                double s = 0;
                for (int e = 0; e < count; e++)
                {
                    if (select is not null && !select[start + e]) continue;
                    double v = d[e] - baseValues[e];
                    s += v * v;
                }
                sums[i] += s;
            }
        }, cancellation);
        double total = squares.Sum() / Math.Max(1, n);
        var weights = squares.Select(s => (float)(Math.Abs(total) < 1e-6 ? 1.0 / k : s / Math.Max(1, n) / total)).ToArray();

        ElementwiseOps.Fill(output, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, result) =>
        {
            using var scratch = new BlockScratch(result.Length);
            var baseValues = scratch.Read(b, start);
            var deltas = new float[k][];
            for (int i = 0; i < k; i++)
            {
                deltas[i] = scratch.ReadArray(inputs.Others[i].Tensor, start);
                for (int e = 0; e < result.Length; e++)
                    deltas[i][e] = select is null || select[start + e] ? deltas[i][e] - baseValues[e] : 0f;
            }
            for (int e = 0; e < result.Length; e++)
            {
                float sum = 0;
                for (int i = 0; i < k; i++) sum += deltas[i][e];
                float majority = sum >= 0 ? 1f : -1f;
                float mixed = 0, divisor = 0;
                for (int i = 0; i < k; i++)
                {
                    if (MathF.Sign(deltas[i][e]) != majority) continue;
                    mixed += deltas[i][e] * weights[i];
                    divisor += weights[i];
                }
                result[e] = baseValues[e] + mixed / MathF.Max(divisor, 1e-6f);
            }
        }, cancellation);
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
    private static KeepMask SelectByVariance(TensorMergeInputs inputs, double topk, IMergeKernels kernels, CancellationToken cancellation)
    {
        var b = inputs.Base!.Value;
        int k = inputs.Others.Length;
        long n = b.Length;
        using var variance = new NativeArray<float>(n);
        var nonzero = ElementwiseOps.Sum(n, 1, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (start, count, sums) =>
        {
            using var scratch = new BlockScratch(count);
            var baseValues = scratch.Read(b, start);
            var mean = scratch.Take();
            var square = scratch.Take();
            mean.Clear();
            square.Clear();
            for (int i = 0; i < k; i++)
            {
                var x = scratch.Read(inputs.Others[i].Tensor, start);
                for (int e = 0; e < count; e++)
                {
                    float d = x[e] - baseValues[e];
                    if (!float.IsFinite(d)) throw new NonFiniteValueException(float.IsFinite(baseValues[e]) ? "other" : "base", start + e);
                    mean[e] += d;
                }
            }
            for (int e = 0; e < count; e++) mean[e] /= k;
            for (int i = 0; i < k; i++)
            {
                var x = scratch.Read(inputs.Others[i].Tensor, start);
                for (int e = 0; e < count; e++)
                {
                    float c = x[e] - baseValues[e] - mean[e];
                    square[e] += c * c;
                }
            }
            var target = variance.Slice(start, count);
            long nnz = 0;
            for (int e = 0; e < count; e++)
            {
                target[e] = square[e] / k;
                if (target[e] != 0) nnz++;
            }
            sums[0] += nnz;
        }, cancellation);
        long keep = (long)((long)nonzero[0] * topk);
        return KeepMask.RankWindow(variance, n - keep, n, kernels, cancellation);
    }
}
