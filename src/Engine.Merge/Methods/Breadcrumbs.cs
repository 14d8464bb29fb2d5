namespace Engine.Merge.Methods;

/// <summary>Model Breadcrumbs (Davari and Belilovsky, arXiv:2312.06795): drop the largest <c>gamma</c> and the smallest of each |M_i - B| to keep <c>density</c>: <c>merged = B + lambda * Σ_i w_i d_i</c>.
/// Source: mergekit/merge_methods/registry.py (consensus None, sparsification MagnitudeOutliers, normalize false and rescale false by
/// default) over mergekit/merge_methods/generalized_task_arithmetic.py; the shared math, its formula and our
/// differences from mergekit are on <see cref="GeneralizedTaskArithmetic"/>.</summary>
public sealed class Breadcrumbs : GeneralizedTaskArithmetic
{
    /// <summary>The <c>breadcrumbs</c> method.</summary>
    public Breadcrumbs()
        : base("breadcrumbs", "d_i = (M_i - B) without its top gamma and bottom (1 - density - gamma) by |.|; merged = B + lambda * sum_i w_i d_i", SignConsensus.None, Sparsification.MagnitudeOutliers, defaultNormalize: false, defaultRescale: false)
    {
    }
}
