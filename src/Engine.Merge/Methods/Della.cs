namespace Engine.Merge.Methods;

/// <summary>DELLA (Deep et al., arXiv:2406.11617): MagPrune keeps each delta element with a probability from <c>density - epsilon</c> (smallest |delta| of its row) to <c>density + epsilon</c> (largest), rescales to the L1 norm, then TIES sign election and weight normalisation.
/// Source: mergekit/merge_methods/registry.py (consensus Sum, sparsification DellaMagprune, normalize true and rescale true by
/// default) over mergekit/merge_methods/generalized_task_arithmetic.py; the shared math, its formula and our
/// differences from mergekit are on <see cref="GeneralizedTaskArithmetic"/>.</summary>
public sealed class Della : GeneralizedTaskArithmetic
{
    /// <summary>The <c>della</c> method.</summary>
    public Della()
        : base("della", "d_i = l1_rescale(magprune(M_i - B; density +/- epsilon by row rank)); merged = B + lambda * sum_i m_i w_i d_i / sum_i m_i w_i", SignConsensus.Sum, Sparsification.DellaMagprune, defaultNormalize: true, defaultRescale: true)
    {
    }
}
