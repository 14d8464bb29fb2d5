using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Execution;

namespace Engine.Merge.Methods;

/// <summary>Arcee Fusion (mergekit's <c>arcee_fusion</c>; TinyR1's merge). For base B and other model P,
/// row-wise along the last dimension: <c>p = softmax(P_row) + 1e-8</c>, <c>q = softmax(B_row) + 1e-8</c>,
/// <c>KL_row = sum_j p_j log(p_j / q_j)</c>, <c>importance = |P - B| * KL_row</c>;
/// <c>threshold = Q(0.5) + lambda * (Q(0.75) - Q(0.25))</c> with <c>Q(p)</c> the element of rank
/// <c>floor(p * (n - 1))</c> of all n importances; <c>merged = importance &gt;= threshold ? P : B</c>.
/// Differences from mergekit (mergekit/merge_methods/arcee_fusion.py), each chosen for exactness:
/// quantiles are exact rather than estimated from random 1M-element samples (<c>quantiles: sampled</c>
/// restores the estimate, seeded); the selected element is P's stored value rather than
/// <c>B + (P - B)</c> rounded; <c>lambda</c> is a parameter (mergekit fixes 1.5); math is float32 with
/// float64 sums unless <c>compute_dtype: bfloat16</c> asks for mergekit's bf16 rounding.</summary>
public sealed class ArceeFusion : IMergeMethod
{
    /// <summary>The <c>lambda</c> when the config gives none: mergekit's fixed 1.5.</summary>
    public const double DefaultLambda = 1.5;

    /// <summary>mergekit's sample size for quantile estimates.</summary>
    public const int SampleSize = 1_000_000;

    /// <inheritdoc/>
    public string Name => "arcee_fusion";

    /// <inheritdoc/>
    public string Formula => "importance = |P-B| * KL(softmax(P_row)+eps || softmax(B_row)+eps); merged = importance >= Q50 + lambda*(Q75-Q25) ? P : B";

    /// <inheritdoc/>
    public IReadOnlyList<MethodParameter> Parameters { get; } = new[]
    {
        new MethodParameter("lambda", DefaultLambda, false, "IQR multiplier of the dynamic threshold"),
    };

    /// <inheritdoc/>
    public bool RequiresBase => true;

    /// <inheritdoc/>
    public void Validate(MergeDocument document, string where, ImmutableArray<string>.Builder warnings)
    {
        if (document.BaseModel == null) throw new MergeConfigException($"{where}: arcee_fusion needs 'base_model'");
        var others = document.Models.Where(m => m.Model != document.BaseModel).ToList();
        if (others.Count != 1)
            throw new MergeConfigException($"{where}: arcee_fusion merges exactly one model into the base, found {others.Count} besides base '{document.BaseModel}'");
        foreach (var key in document.Parameters.Values.Keys.Where(k => k != "lambda"))
            warnings.Add($"{where}: arcee_fusion ignores parameter '{key}'");
        foreach (var m in document.Models.Where(m => m.Parameters.Values.Count > 0))
            warnings.Add($"{where}: arcee_fusion ignores the parameters of model '{m.Model}'");
    }

    /// <inheritdoc/>
    public JsonObject Merge(TensorMergeInputs inputs, ITensorOutput output, IMergeKernels kernels, CancellationToken cancellation)
    {
        long n = inputs.Base!.Value.Length;
        double lambda = inputs.GetDouble("lambda", DefaultLambda);
        var precision = inputs.Document.ComputePrecision;
        if (n == 0)
        {
            output.Fill((_, _) => { }, cancellation);
            return new JsonObject { ["elements"] = 0, ["kept_fraction"] = 0.0 };
        }

        // In a batch, the jobs that differ only in lambda share the step (the importance and its quartiles);
        // alone, the step is this call's and released with it.
        ImportanceStep? own = null;
        var step = inputs.Shared is { } shared && inputs.ImportanceKey is { } key
            ? shared.Importance(key, () => Importance(inputs, kernels, cancellation))
            : own = Importance(inputs, kernels, cancellation);
        using var release = own;
        var (rowKl, q25, q50, q75) = (step.RowKl, step.Q25, step.Q50, step.Q75);
        float threshold = Threshold(q25, q50, q75, lambda, precision);

        long kept = 0;
        output.Fill((chunk, start) => kept += step.Importance.MaskedSelect(chunk, start, threshold), cancellation);

        return new JsonObject
        {
            ["elements"] = n,
            ["kept"] = kept,
            ["kept_fraction"] = (double)kept / n,
            ["threshold"] = (double)threshold,
            ["lambda"] = lambda,
            ["q25"] = (double)q25,
            ["q50"] = (double)q50,
            ["q75"] = (double)q75,
            ["kl_min"] = rowKl.Min(),
            ["kl_mean"] = MeanInOrder(rowKl),
            ["kl_max"] = rowKl.Max(),
        };
    }

    /// <summary>The importance of the pair, each row's KL and the quartiles: everything but the threshold and the
    /// selection.</summary>
    private static ImportanceStep Importance(TensorMergeInputs inputs, IMergeKernels kernels, CancellationToken cancellation)
    {
        var b = inputs.Base!.Value;
        var p = inputs.Others[0].Tensor;
        int rowLength = inputs.RowLength;
        var rowKl = new double[b.Length / rowLength];
        // The importance stays where the kernels computed it (on a GPU: with both inputs, so nothing but the
        // merged output crosses the bus again); the host array is filled only on backends that compute there.
        var host = inputs.RentFloats(b.Length);
        IImportance? importance = null;
        try
        {
            importance = kernels.ComputeImportance(host, rowKl, p, b, rowLength, inputs.Document.ComputePrecision);
            cancellation.ThrowIfCancellationRequested();
            var (q25, q50, q75) = inputs.Document.Quantiles == QuantileMode.Exact
                ? ExactQuartiles(importance)
                : SampledQuartiles(importance.ToHost(), inputs.Document.Seed, inputs.TensorName);
            return new ImportanceStep(importance, host, rowKl, q25, q50, q75);
        }
        catch
        {
            importance?.Dispose();
            host.Dispose();
            throw;
        }
    }

    /// <summary><c>Q50 + lambda * (Q75 - Q25)</c> in float32, or with each step rounded to bf16 as torch does
    /// on bf16 tensors.</summary>
    public static float Threshold(float q25, float q50, float q75, double lambda, ComputePrecision precision)
    {
        if (precision == ComputePrecision.Float32) return q50 + (float)lambda * (q75 - q25);
        float iqr = DTypeConversion.RoundToBFloat16(q75 - q25);
        return DTypeConversion.RoundToBFloat16(q50 + DTypeConversion.RoundToBFloat16((float)lambda * iqr));
    }

    /// <summary>Ranks <c>floor(p (n - 1))</c> for p = 1/4, 1/2, 3/4, in exact integer arithmetic.</summary>
    public static (long Q25, long Q50, long Q75) QuartileRanks(long n) => ((n - 1) / 4, (n - 1) / 2, 3 * (n - 1) / 4);

    private static (float, float, float) ExactQuartiles(IImportance importance)
    {
        var (r25, r50, r75) = QuartileRanks(importance.Length);
        Span<float> values = stackalloc float[3];
        importance.SelectRanks(values, [r25, r50, r75]);
        return (values[0], values[1], values[2]);
    }

    /// <summary>mergekit's estimate: the median from one random sample of at most 1M elements, the quartiles
    /// from a second one; seeded by the config seed and the tensor name so runs repeat.</summary>
    private static unsafe (float, float, float) SampledQuartiles(NativeArray<float> importance, int seed, string tensorName)
    {
        var random = new Random(unchecked(seed * 486187739 + StableHash(tensorName)));
        var medianSample = Sample(importance, random);
        var quartileSample = Sample(importance, random);
        float median = medianSample[(int)(0.5f * (medianSample.Length - 1))];
        float q1 = quartileSample[(int)(0.25f * (quartileSample.Length - 1))];
        float q3 = quartileSample[(int)(0.75f * (quartileSample.Length - 1))];
        return (q1, median, q3);
    }

    private static unsafe float[] Sample(NativeArray<float> values, Random random)
    {
        long n = values.Length;
        float[] sample;
        if (n <= SampleSize)
        {
            sample = values.Span.ToArray();
        }
        else
        {
            // Floyd's algorithm: SampleSize distinct indices without materialising a permutation of n.
            var chosen = new HashSet<long>(SampleSize);
            for (long j = n - SampleSize; j < n; j++)
            {
                long t = random.NextInt64(j + 1);
                chosen.Add(chosen.Contains(t) ? j : t);
            }
            sample = new float[SampleSize];
            int k = 0;
            foreach (long index in chosen) sample[k++] = values.Pointer[index];
        }
        Array.Sort(sample);
        return sample;
    }

    private static int StableHash(string s)
    {
        unchecked
        {
            int h = (int)2166136261;
            foreach (char c in s) h = (h ^ c) * 16777619;
            return h;
        }
    }

    private static double MeanInOrder(double[] values)
    {
        double sum = 0;
        foreach (var v in values) sum += v;
        return sum / values.Length;
    }
}
