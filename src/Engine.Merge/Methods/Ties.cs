namespace Engine.Merge.Methods;

/// <summary>TIES (Yadav et al., arXiv:2306.01708): keep the top <c>density</c> of each |M_i - B|, elect the sign of <c>Σ w_i d_i</c>, average the agreeing weighted deltas: <c>merged = B + lambda * Σ_i m_i w_i d_i / Σ_i m_i w_i</c>.
/// Source: mergekit/merge_methods/registry.py (consensus Sum, sparsification Magnitude, normalize true and rescale false by
/// default) over mergekit/merge_methods/generalized_task_arithmetic.py; the shared math, its formula and our
/// differences from mergekit are on <see cref="GeneralizedTaskArithmetic"/>.</summary>
public sealed class Ties : GeneralizedTaskArithmetic
{
    /// <summary>The <c>ties</c> method.</summary>
    public Ties()
        : base("ties", "d_i = topk_density(M_i - B); merged = B + lambda * sum_i m_i w_i d_i / sum_i m_i w_i, m_i = sign(w_i d_i) == sign(sum_j w_j d_j)", SignConsensus.Sum, Sparsification.Magnitude, defaultNormalize: true, defaultRescale: false)
    {
    }
}
