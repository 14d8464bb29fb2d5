using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Execution;

namespace Engine.Merge.Methods;

/// <summary>Linear (model soup; Wortsman et al., arXiv:2203.05482): <c>merged = Σ_i w_i M_i / Σ_i w_i</c>
/// (without the division when <c>normalize: false</c>). Every model takes part, the base too when one is
/// given (its weight from its <c>models</c> entry or the merge's <c>parameters</c>).
/// Source: mergekit/merge_methods/linear.py. Differences from mergekit: the weights are normalised in float64
/// before use (mergekit rounds them to the tensor dtype, bf16 under <c>dtype: bfloat16</c>, and divides
/// afterwards), so one non-zero weight returns that model exactly; weights summing to zero with
/// <c>normalize</c> are an error naming the tensor (mergekit writes inf/NaN).
/// Runs on the kernel contract: <see cref="IElementwiseKernels.LinearCombination"/>, float32 sums in model order.</summary>
public sealed class Linear : IMergeMethod
{
    /// <inheritdoc/>
    public string Name => "linear";
    /// <inheritdoc/>
    public string Formula => "merged = sum_i w_i M_i / sum_i w_i (no division when normalize is false)";

    /// <inheritdoc/>
    public IReadOnlyList<MethodParameter> Parameters { get; } = new MethodParameter[]
    {
        new("normalize", true, false, "divide by the sum of the weights"),
        new("weight", null, true, "the model's weight", Required: true),
    };

    /// <inheritdoc/>
    public bool RequiresBase => false;

    /// <inheritdoc/>
    public void Validate(MergeDocument document, string where, ImmutableArray<string>.Builder warnings)
    {
        MethodRules.RequirePerModel(this, document, where, "weight", includeBase: true);
        MethodRules.CheckParameters(this, document, where, warnings);
    }

    /// <inheritdoc/>
    public JsonObject Merge(TensorMergeInputs inputs, ITensorOutput output, IMergeKernels kernels, CancellationToken cancellation)
    {
        var tensors = new List<RawTensor>();
        var weights = new List<double>();
        if (inputs.Base is { } b)
        {
            tensors.Add(b);
            weights.Add(inputs.GetBaseDouble("weight", null));
        }
        for (int i = 0; i < inputs.Others.Length; i++)
        {
            tensors.Add(inputs.Others[i].Tensor);
            weights.Add(inputs.GetModelDouble(i, "weight", null));
        }
        bool normalize = inputs.GetBool("normalize", true);
        double sum = weights.Sum();
        if (normalize && sum == 0)
            throw new MergeConfigException($"linear: the weights of tensor '{inputs.TensorName}' sum to 0; set normalize: false or change the weights");
        var coefficients = weights.Select(w => (float)(normalize ? w / sum : w)).ToArray();
        ElementwiseOps.Combine(output, kernels, tensors, coefficients, null, cancellation);
        return new JsonObject { ["elements"] = inputs.Base?.Length ?? inputs.Others[0].Tensor.Length, ["coefficients"] = new JsonArray(coefficients.Select(c => (JsonNode)(double)c).ToArray()) };
    }
}
