using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Execution;

namespace Engine.Merge.Methods;

/// <summary>Karcher (Riemannian) mean of the models' directions on the unit sphere, scaled by their mean norm.
/// Every model takes part (the base too when given), each with weight <c>a = 1/N</c>. Units
/// <c>u_i = M_i / |M_i|</c> for norms above <c>tol</c>; start <c>u = normalize(Σ a_i u_i)</c> (the first unit when
/// that is under tol); repeat up to <c>max_iter</c>: <c>T = Σ a_i (theta_i / sin theta_i)(u_i - cos theta_i u)</c>
/// over <c>theta_i = acos(clamp(u·u_i)) &gt;= tol</c>, stop when <c>|T| &lt; tol</c>, else
/// <c>u = normalize(cos|T| u + sin|T| T/|T|)</c>; <c>merged = (Σ_i a_i |M_i|) u</c>.
/// Source: mergekit/merge_methods/karcher.py. Difference from mergekit: u stays in the span of the models, so we
/// iterate on its coefficients with the float64 Gram matrix of the models (one pass over the data, then one to
/// write) instead of on full tensors in the tensor dtype, rounding each step (bf16 under <c>dtype: bfloat16</c>).
/// Runs on the kernel contract: <see cref="IElementwiseKernels.Gram"/>, then <see cref="IElementwiseKernels.LinearCombination"/>.</summary>
public sealed class Karcher : IMergeMethod
{
    /// <inheritdoc/>
    public string Name => "karcher";
    /// <inheritdoc/>
    public string Formula => "merged = mean_i |M_i| * argmin_u sum_i d_sphere(u, M_i/|M_i|)^2 (Riemannian gradient steps, max_iter, tol)";

    /// <inheritdoc/>
    public IReadOnlyList<MethodParameter> Parameters { get; } = new MethodParameter[]
    {
        new("max_iter", 10.0, false, "most Riemannian gradient steps", Min: 1, Max: 1e6),
        new("tol", 1e-5, false, "stop when the tangent step is shorter; norms at or below it count as zero", Min: 0),
    };

    /// <inheritdoc/>
    public bool RequiresBase => false;

    /// <inheritdoc/>
    public void Validate(MergeDocument document, string where, ImmutableArray<string>.Builder warnings) =>
        MethodRules.CheckParameters(this, document, where, warnings);

    /// <inheritdoc/>
    public JsonObject Merge(TensorMergeInputs inputs, ITensorOutput output, IMergeKernels kernels, CancellationToken cancellation)
    {
        var tensors = new List<RawTensor>();
        if (inputs.Base is { } b) tensors.Add(b);
        tensors.AddRange(inputs.Others.Select(o => o.Tensor));
        int k = tensors.Count;
        long n = tensors[0].Length;
        if (k == 1)
        {
            ElementwiseOps.Copy(output, tensors[0], cancellation);
            return new JsonObject { ["elements"] = n, ["models"] = 1 };
        }
        int maxIter = (int)inputs.GetDouble("max_iter", 10);
        double tol = inputs.GetDouble("tol", 1e-5);
        var gram = ElementwiseOps.Gram(kernels, tensors, null);
        var (coefficients, iterations) = Solve(gram, k, maxIter, tol);
        var single = coefficients.Select(c => (float)c).ToArray();
        ElementwiseOps.Combine(output, kernels, tensors, single, null, cancellation);
        return new JsonObject
        {
            ["elements"] = n,
            ["models"] = k,
            ["iterations"] = iterations,
            ["coefficients"] = new JsonArray(single.Select(c => (JsonNode)(double)c).ToArray()),
        };
    }

    /// <summary>The Karcher iteration on coefficients: returns c with <c>merged = Σ c_i M_i</c>, given the Gram
    /// matrix <c>G_ij = M_i·M_j</c> (k x k, row-major).</summary>
    public static (double[] Coefficients, int Iterations) Solve(double[] gram, int k, int maxIter, double tol)
    {
        double alpha = 1.0 / k;
        var norms = Enumerable.Range(0, k).Select(i => Math.Sqrt(Math.Max(0, gram[i * k + i]))).ToArray();
        var valid = Enumerable.Range(0, k).Where(i => norms[i] > tol).ToArray();
        if (valid.Length == 0) return (new double[k], 0);
        double a = 1.0 / valid.Length;

        // u = Σ γ_i M_i; the unit of model i is e_i / |M_i|.
        var gamma = new double[k];
        foreach (int i in valid) gamma[i] = a / norms[i];
        double normU = Norm(gram, gamma, k);
        if (normU < tol)
        {
            Array.Clear(gamma);
            gamma[valid[0]] = 1 / norms[valid[0]];
        }
        else
        {
            Scale(gamma, 1 / normU);
        }

        int iterations = 0;
        for (; iterations < maxIter; iterations++)
        {
            var gu = Multiply(gram, gamma, k);
            var tangent = new double[k];
            foreach (int i in valid)
            {
                double dot = Math.Clamp(gu[i] / norms[i], -1, 1);
                double theta = Math.Acos(dot);
                if (theta < tol) continue;
                double c = a * theta / Math.Sin(theta);
                tangent[i] += c / norms[i];
                for (int j = 0; j < k; j++) tangent[j] -= c * dot * gamma[j];
            }
            double normT = Norm(gram, tangent, k);
            if (normT < tol) break;
            double cos = Math.Cos(normT), sin = Math.Sin(normT);
            for (int j = 0; j < k; j++) gamma[j] = cos * gamma[j] + sin * tangent[j] / normT;
            double length = Norm(gram, gamma, k);
            if (length > tol) Scale(gamma, 1 / length);
        }
        double s = 0;
        for (int i = 0; i < k; i++) s += alpha * norms[i];
        Scale(gamma, s);
        return (gamma, iterations);
    }

    private static double[] Multiply(double[] gram, double[] v, int k)
    {
        var r = new double[k];
        for (int i = 0; i < k; i++)
        {
            for (int j = 0; j < k; j++) r[i] += gram[i * k + j] * v[j];
        }
        return r;
    }

    private static double Norm(double[] gram, double[] v, int k)
    {
        var gv = Multiply(gram, v, k);
        double s = 0;
        for (int i = 0; i < k; i++) s += v[i] * gv[i];
        return Math.Sqrt(Math.Max(0, s));
    }

    private static void Scale(double[] v, double f)
    {
        for (int i = 0; i < v.Length; i++) v[i] *= f;
    }
}
