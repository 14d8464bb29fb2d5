namespace Engine.Merge.Methods;

/// <summary>DARE-TIES (Yu et al., arXiv:2311.03099): drop each delta element with probability <c>1 - density</c>, rescale to the original L1 norm, then TIES sign election: <c>merged = B + lambda * Σ_i m_i w_i d_i</c>.
/// Source: mergekit/merge_methods/registry.py (consensus Sum, sparsification Random, normalize false and rescale true by
/// default) over mergekit/merge_methods/generalized_task_arithmetic.py; the shared math, its formula and our
/// differences from mergekit are on <see cref="GeneralizedTaskArithmetic"/>.</summary>
public sealed class DareTies : GeneralizedTaskArithmetic
{
    /// <summary>The <c>dare_ties</c> method.</summary>
    public DareTies()
        : base("dare_ties", "d_i = l1_rescale(bernoulli(density) * (M_i - B)); merged = B + lambda * sum_i m_i w_i d_i (TIES sign election)", SignConsensus.Sum, Sparsification.Random, defaultNormalize: false, defaultRescale: true)
    {
    }
}
