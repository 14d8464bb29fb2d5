namespace Engine.Merge.Methods;

/// <summary>Linear DARE (Yu et al., arXiv:2311.03099): drop each delta element with probability <c>1 - density</c>, rescale to the original L1 norm: <c>merged = B + lambda * Σ_i w_i d_i</c>.
/// Source: mergekit/merge_methods/registry.py (consensus None, sparsification Random, normalize false and rescale true by
/// default) over mergekit/merge_methods/generalized_task_arithmetic.py; the shared math, its formula and our
/// differences from mergekit are on <see cref="GeneralizedTaskArithmetic"/>.</summary>
public sealed class DareLinear : GeneralizedTaskArithmetic
{
    /// <summary>The <c>dare_linear</c> method.</summary>
    public DareLinear()
        : base("dare_linear", "d_i = l1_rescale(bernoulli(density) * (M_i - B)); merged = B + lambda * sum_i w_i d_i", SignConsensus.None, Sparsification.Random, defaultNormalize: false, defaultRescale: true)
    {
    }
}
