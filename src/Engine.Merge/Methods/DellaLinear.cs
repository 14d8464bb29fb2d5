namespace Engine.Merge.Methods;

/// <summary>Linear DELLA (arXiv:2406.11617): MagPrune and L1 rescale as <c>della</c>, no sign election: <c>merged = B + lambda * Σ_i w_i d_i</c>.
/// Source: mergekit/merge_methods/registry.py (consensus None, sparsification DellaMagprune, normalize false and rescale true by
/// default) over mergekit/merge_methods/generalized_task_arithmetic.py; the shared math, its formula and our
/// differences from mergekit are on <see cref="GeneralizedTaskArithmetic"/>.</summary>
public sealed class DellaLinear : GeneralizedTaskArithmetic
{
    /// <summary>The <c>della_linear</c> method.</summary>
    public DellaLinear()
        : base("della_linear", "d_i = l1_rescale(magprune(M_i - B; density +/- epsilon by row rank)); merged = B + lambda * sum_i w_i d_i", SignConsensus.None, Sparsification.DellaMagprune, defaultNormalize: false, defaultRescale: true)
    {
    }
}
