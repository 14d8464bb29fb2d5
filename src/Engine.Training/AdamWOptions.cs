namespace Engine.Training;

/// <summary>torch.optim.AdamW after torch.nn.utils.clip_grad_norm_:
/// <c>g *= min(1, max_grad_norm / (||g|| + 1e-6))</c> when <see cref="MaxGradNorm"/> &gt; 0;
/// <c>p *= 1 - lr * wd</c> (matrices only; biases and norm weights are not decayed, HF Trainer's rule);
/// <c>m = b1 m + (1 - b1) g</c>, <c>v = b2 v + (1 - b2) g^2</c>;
/// <c>p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)</c>.</summary>
public sealed record AdamWOptions
{
    // Messages name the `engine sft` options, the one place these values come from users.
    /// <summary>Validated AdamW settings.</summary>
    /// <exception cref="ArgumentException">A value is out of range (<c>lr</c> &lt; 0, a beta outside [0, 1), <c>eps</c> &lt;= 0,
    /// a negative weight decay or clipping norm, or a non-finite value); the message names the <c>engine sft</c> option.</exception>
    public AdamWOptions(double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.0, double maxGradNorm = 0.0)
    {
        if (!(lr >= 0) || !double.IsFinite(lr)) throw new ArgumentException($"--lr must be a finite number >= 0, got {lr}");
        if (!(beta1 >= 0 && beta1 < 1)) throw new ArgumentException($"--adam-beta1 must be in [0, 1), got {beta1}");
        if (!(beta2 >= 0 && beta2 < 1)) throw new ArgumentException($"--adam-beta2 must be in [0, 1), got {beta2}");
        if (!(eps > 0) || !double.IsFinite(eps)) throw new ArgumentException($"--adam-eps must be positive, got {eps}");
        if (!(weightDecay >= 0) || !double.IsFinite(weightDecay)) throw new ArgumentException($"--weight-decay must be >= 0, got {weightDecay}");
        if (!(maxGradNorm >= 0) || !double.IsFinite(maxGradNorm)) throw new ArgumentException($"--max-grad-norm must be >= 0 (0 = off), got {maxGradNorm}");
        (Lr, Beta1, Beta2, Eps, WeightDecay, MaxGradNorm) = (lr, beta1, beta2, eps, weightDecay, maxGradNorm);
    }

    /// <summary>The (peak) learning rate <c>lr</c>; a schedule scales it per step.</summary>
    public double Lr { get; }
    /// <summary><c>b1</c>, the decay of the first-moment average <c>m</c>.</summary>
    public double Beta1 { get; }
    /// <summary><c>b2</c>, the decay of the second-moment average <c>v</c>.</summary>
    public double Beta2 { get; }
    /// <summary><c>eps</c>, added to the bias-corrected <c>sqrt(v)</c> so the step stays finite where <c>v = 0</c>.</summary>
    public double Eps { get; }
    /// <summary><c>wd</c>, decoupled weight decay <c>p *= 1 - lr * wd</c> on matrices (0 = none).</summary>
    public double WeightDecay { get; }

    /// <summary>0 = no clipping.</summary>
    public double MaxGradNorm { get; }
}
