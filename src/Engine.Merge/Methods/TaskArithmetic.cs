namespace Engine.Merge.Methods;

/// <summary>Task Arithmetic (Ilharco et al., arXiv:2212.04089): <c>merged = B + lambda * Σ_i w_i (M_i - B)</c>.
/// Source: mergekit/merge_methods/registry.py (consensus None, sparsification None, normalize false and rescale false by
/// default) over mergekit/merge_methods/generalized_task_arithmetic.py; the shared math, its formula and our
/// differences from mergekit are on <see cref="GeneralizedTaskArithmetic"/>.</summary>
public sealed class TaskArithmetic : GeneralizedTaskArithmetic
{
    /// <summary>The <c>task_arithmetic</c> method.</summary>
    public TaskArithmetic()
        : base("task_arithmetic", "merged = B + lambda * sum_i w_i (M_i - B)", SignConsensus.None, Sparsification.None, defaultNormalize: false, defaultRescale: false)
    {
    }
}
