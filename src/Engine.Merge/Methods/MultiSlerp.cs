using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Execution;

namespace Engine.Merge.Methods;

/// <summary>Multi-SLERP: spherical barycentric interpolation of K models, or of their task vectors
/// <c>v_i = M_i - B</c> when a base is given (added back after). Weights <c>w_i</c> (divided by their sum when
/// <c>normalize_weights</c>), <c>u_i = v_i / (|v_i| + eps)</c>, <c>mean = Σ w_i u_i</c>,
/// <c>merged = [B +] (Σ_i w_i |v_i|) mean / |mean|</c>. With one model, that model; when <c>|mean| &lt; eps</c>,
/// two models fall back to <c>[B +] w_0 v_0 + w_1 v_1</c> and more are an error naming the tensor.
/// Source: mergekit/merge_methods/multislerp.py. Differences from mergekit: mergekit then projects the u_i onto
/// the tangent space at <c>mean/|mean|</c> and sums <c>w_i</c>-weighted tangents, which cancel exactly (their sum
/// is <c>mean - (Σ w_i u_i·mean/|mean|) mean/|mean| = 0</c>), so its exponential map returns <c>mean/|mean|</c>
/// up to float32 noise (<c>cos(eps)</c> and a noise-sized tangent); we compute that value without the noise.
/// Norms and the weighted mean's norm are float64. When every v_i is zero (all models equal the base) we
/// return the base instead of failing. Runs on the kernel contract: one <see cref="IElementwiseKernels.Gram"/> pass
/// gives the norms and <c>|mean|² = Σ_ij u_i u_j v_i·v_j</c>, one <see cref="IElementwiseKernels.LinearCombination"/>
/// writes the result.</summary>
public sealed class MultiSlerp : IMergeMethod
{
    /// <inheritdoc/>
    public string Name => "multislerp";
    /// <inheritdoc/>
    public string Formula => "u_i = v_i/(|v_i|+eps), v_i = M_i [- B]; merged = [B +] (sum_i w_i |v_i|) * normalize(sum_i w_i u_i)";

    /// <inheritdoc/>
    public IReadOnlyList<MethodParameter> Parameters { get; } = new MethodParameter[]
    {
        new("normalize_weights", true, false, "divide the weights by their sum"),
        new("eps", 1e-8, false, "stabiliser added to the norms", Min: 0),
        new("weight", null, true, "the model's weight", Required: true),
    };

    /// <inheritdoc/>
    public bool RequiresBase => false;

    /// <inheritdoc/>
    public void Validate(MergeDocument document, string where, ImmutableArray<string>.Builder warnings)
    {
        if (MethodRules.OthersCount(document) == 0) throw new MergeConfigException($"{where}: multislerp needs at least one model besides the base");
        MethodRules.RequirePerModel(this, document, where, "weight");
        MethodRules.CheckParameters(this, document, where, warnings);
    }

    /// <inheritdoc/>
    public JsonObject Merge(TensorMergeInputs inputs, ITensorOutput output, IMergeKernels kernels, CancellationToken cancellation)
    {
        int k = inputs.Others.Length;
        var b = inputs.Base;
        long n = inputs.Others[0].Tensor.Length;
        if (k == 1)
        {
            ElementwiseOps.Copy(output, inputs.Others[0].Tensor, cancellation);
            return new JsonObject { ["elements"] = n, ["models"] = 1 };
        }
        var weights = new double[k];
        for (int i = 0; i < k; i++) weights[i] = inputs.GetModelDouble(i, "weight", null);
        if (inputs.GetBool("normalize_weights", true))
        {
            double sum = weights.Sum();
            for (int i = 0; i < k; i++) weights[i] /= sum;
        }
        double eps = inputs.GetDouble("eps", 1e-8);

        var others = inputs.Others.Select(o => o.Tensor).ToArray();
        var gram = ElementwiseOps.Gram(kernels, others, b);
        var norms = Enumerable.Range(0, k).Select(i => Math.Sqrt(gram[i * k + i])).ToArray();
        var unitWeights = norms.Select((norm, i) => weights[i] / (norm + eps)).ToArray();
        // |Σ_i u_i v_i|² = Σ_ij u_i u_j (v_i·v_j): from the Gram matrix, without a second pass over the data.
        double meanSquare = 0;
        for (int i = 0; i < k; i++)
        {
            for (int j = 0; j < k; j++) meanSquare += unitWeights[i] * unitWeights[j] * gram[i * k + j];
        }
        double meanNorm = Math.Sqrt(Math.Max(0, meanSquare));

        float[] coefficients;
        string mode;
        if (norms.All(v => v == 0))
        {
            coefficients = new float[k];
            mode = "all task vectors zero";
        }
        else if (meanNorm < eps)
        {
            if (k != 2)
                throw new MergeConfigException($"multislerp: tensor '{inputs.TensorName}': the weighted directions cancel (antipodal models with balancing weights); change the weights");
            coefficients = weights.Select(w => (float)w).ToArray();
            mode = "linear fallback";
        }
        else
        {
            double scale = weights.Select((w, i) => w * norms[i]).Sum() / meanNorm;
            coefficients = unitWeights.Select(u => (float)(u * scale)).ToArray();
            mode = "slerp";
        }

        ElementwiseOps.Combine(output, kernels, others, coefficients, b, cancellation);
        return new JsonObject
        {
            ["elements"] = n,
            ["models"] = k,
            ["mode"] = mode,
            ["coefficients"] = new JsonArray(coefficients.Select(c => (JsonNode)(double)c).ToArray()),
        };
    }
}
