using System.Buffers;
using System.Collections.Immutable;
using System.Text.Json.Nodes;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Execution;

namespace Engine.Merge.Methods;

/// <summary>RAM+ tensor-local (<c>ramplus_tl</c>, arXiv:2601.13572): RAM whose unique changes are amplified per
/// model by how much that model's changes in this tensor are shared. With <c>d_i = M_i - B</c>, <c>c_i(e) = |d_i(e)| &gt; eps</c>
/// and <c>count(e) = Σ_i c_i(e)</c>: <c>shared_i = #{e : c_i ∧ count &gt; 1}</c>, <c>unique_i = #{e : c_i ∧ count = 1}</c>,
/// <c>rho_i = shared_i / max(unique_i, eps)</c>, <c>lambda_i = 1 + r clamp(rho_i, 0, alpha)</c>;
/// <c>merged = B + Σ_i [c_i] (count = 1 ? lambda_i d_i : d_i / count)</c>, the sum in model order from +0, float32.
/// Source: mergekit/merge_methods/ram.py (<c>ramplus_tl</c>; its defaults r = 0.1, alpha = 0.2, epsilon = 1e-5).
/// Difference from mergekit: float32 math whatever the config dtype. Two passes: the per-model counts, a
/// block-parallel CPU pass on the host copies of the inputs (the reduction is not on the kernel contract yet), then
/// the combine on the device, <see cref="IElementwiseKernels.AmplifiedCountedAverage"/> per output chunk.</summary>
public sealed class RamPlusTensorLocal : IMergeMethod
{
    /// <inheritdoc/>
    public string Name => "ramplus_tl";
    /// <inheritdoc/>
    public string Formula => "merged = B + sum_i [|d_i| > eps] (count == 1 ? (1 + r clamp(shared_i / max(unique_i, eps), 0, alpha)) d_i : d_i / count)";

    /// <inheritdoc/>
    public IReadOnlyList<MethodParameter> Parameters { get; } = new MethodParameter[]
    {
        new("r", 0.1, false, "amplification of a model's unique changes per unit of its shared/unique ratio", Min: 0),
        new("alpha", 0.2, false, "cap of the shared/unique ratio", Min: 0),
        new("epsilon", 1e-5, false, "magnitude above which a delta counts as a change", Min: 0),
    };

    /// <inheritdoc/>
    public bool RequiresBase => true;

    /// <inheritdoc/>
    public void Validate(MergeDocument document, string where, ImmutableArray<string>.Builder warnings)
    {
        MethodRules.RequireBase(this, document, where);
        MethodRules.CheckParameters(this, document, where, warnings);
    }

    /// <inheritdoc/>
    public JsonObject Merge(TensorMergeInputs inputs, ITensorOutput output, IMergeKernels kernels, CancellationToken cancellation)
    {
        var b = inputs.Base!.Value;
        var models = inputs.Others.Select(o => o.Tensor).ToArray();
        float epsilon = (float)inputs.GetDouble("epsilon", 1e-5);
        double r = inputs.GetDouble("r", 0.1), alpha = inputs.GetDouble("alpha", 0.2);
        if (models.Length == 0)
        {
            ElementwiseOps.Copy(output, b, cancellation);
            return new JsonObject { ["elements"] = b.Length };
        }

        var (shared, unique) = CountChanges(models, b, epsilon, cancellation);
        var lambda = new float[models.Length];
        for (int i = 0; i < models.Length; i++)
        {
            double rho = shared[i] / Math.Max(unique[i], (double)epsilon);
            lambda[i] = (float)(1 + r * Math.Clamp(rho, 0, alpha));
        }
        ElementwiseOps.ByChunk(output, models, b, (chunk, slices, @base, _) => kernels.AmplifiedCountedAverage(chunk, slices, @base!.Value, lambda, epsilon), cancellation);
        return new JsonObject
        {
            ["elements"] = b.Length,
            ["epsilon"] = (double)epsilon,
            ["lambda"] = new JsonArray(lambda.Select(l => (JsonNode)(double)l).ToArray()),
        };
    }

    /// <summary>Per model, the elements it changes together with another model and those it alone changes.</summary>
    private static (long[] Shared, long[] Unique) CountChanges(RawTensor[] models, RawTensor b, float epsilon, CancellationToken cancellation)
    {
        var shared = new long[models.Length];
        var unique = new long[models.Length];
        ElementwiseOps.ForEachBlock(b.Length, (start, count) =>
        {
            var localShared = new long[models.Length];
            var localUnique = new long[models.Length];
            using var block = new DeltaBlock(models, b, start, count);
            for (int e = 0; e < count; e++)
            {
                int changed = 0;
                for (int i = 0; i < models.Length; i++) changed += block.Changed(i, e, epsilon) ? 1 : 0;
                if (changed == 0) continue;
                var counts = changed == 1 ? localUnique : localShared;
                for (int i = 0; i < models.Length; i++) counts[i] += block.Changed(i, e, epsilon) ? 1 : 0;
            }
            for (int i = 0; i < models.Length; i++)
            {
                Interlocked.Add(ref shared[i], localShared[i]);
                Interlocked.Add(ref unique[i], localUnique[i]);
            }
        }, cancellation);
        return (shared, unique);
    }

    /// <summary>One block of the base and of every model's delta <c>M_i - B</c>, in float32, in pooled buffers.</summary>
    private readonly struct DeltaBlock : IDisposable
    {
        private readonly float[] _base;
        private readonly float[] _deltas;
        private readonly int _count;

        public DeltaBlock(RawTensor[] models, RawTensor b, long start, int count)
        {
            _count = count;
            _base = ArrayPool<float>.Shared.Rent(count);
            _deltas = ArrayPool<float>.Shared.Rent(count * models.Length);
            b.ReadSingles(start, _base.AsSpan(0, count));
            for (int i = 0; i < models.Length; i++)
            {
                var d = _deltas.AsSpan(i * count, count);
                models[i].ReadSingles(start, d);
                for (int e = 0; e < count; e++) d[e] -= _base[e];
            }
        }

        public bool Changed(int model, int e, float epsilon) => MathF.Abs(_deltas[model * _count + e]) > epsilon;

        public void Dispose()
        {
            ArrayPool<float>.Shared.Return(_base);
            ArrayPool<float>.Shared.Return(_deltas);
        }
    }
}
