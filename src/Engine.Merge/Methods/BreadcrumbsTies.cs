namespace Engine.Merge.Methods;

/// <summary>Model Breadcrumbs with TIES sign election (arXiv:2312.06795): breadcrumbs' outlier-and-small pruning, then <c>merged = B + lambda * Σ_i m_i w_i d_i</c>.
/// Source: mergekit/merge_methods/registry.py (consensus Sum, sparsification MagnitudeOutliers, normalize false and rescale false by
/// default) over mergekit/merge_methods/generalized_task_arithmetic.py; the shared math, its formula and our
/// differences from mergekit are on <see cref="GeneralizedTaskArithmetic"/>.</summary>
public sealed class BreadcrumbsTies : GeneralizedTaskArithmetic
{
    /// <summary>The <c>breadcrumbs_ties</c> method.</summary>
    public BreadcrumbsTies()
        : base("breadcrumbs_ties", "d_i = breadcrumbs(M_i - B); merged = B + lambda * sum_i m_i w_i d_i (TIES sign election)", SignConsensus.Sum, Sparsification.MagnitudeOutliers, defaultNormalize: false, defaultRescale: false)
    {
    }
}
