using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Engine.Core.Numerics;
using Engine.Kernels;
using Engine.Merge.Config;
using Engine.Merge.Execution;

namespace Engine.Merge.Methods;

/// <summary>How the task vectors' signs are reconciled (mergekit's <c>ConsensusMethod</c>).</summary>
public enum SignConsensus
{
    /// <summary>No election: every weighted delta is added.</summary>
    None,

    /// <summary>TIES: the majority sign is the sign of the sum of the weighted deltas (>= 0 counts as +);
    /// only deltas of that sign are added, and the normaliser sums only their weights.</summary>
    Sum,
}

/// <summary>How each task vector is thinned before merging (mergekit's <c>SparsificationMethod</c>).</summary>
public enum Sparsification
{
    /// <summary>Keep every element.</summary>
    None,

    /// <summary>Keep the <c>floor(density n)</c> largest |delta| (TIES).</summary>
    Magnitude,

    /// <summary>Keep each element with probability <c>density</c> (DARE).</summary>
    Random,

    /// <summary>Drop the <c>floor(gamma n)</c> largest |delta|, then the smallest, to keep
    /// <c>floor(density n)</c> (Model Breadcrumbs).</summary>
    MagnitudeOutliers,

    /// <summary>Keep with a probability rising linearly with the element's |delta| rank in its row, from
    /// <c>density - epsilon</c> to <c>density + epsilon</c> (DELLA's MagPrune).</summary>
    DellaMagprune,
}

/// <summary>mergekit's generalised task arithmetic (mergekit/merge_methods/generalized_task_arithmetic.py and
/// mergekit/sparsify.py), shared by task_arithmetic, ties, dare_*, breadcrumbs*, della*. For base B and
/// models M_i with weight w_i: <c>d_i = sparsify(M_i - B)</c> (optionally rescaled to keep its L1 norm),
/// <c>mixed = Σ_i m_i w_i d_i</c> with <c>m_i</c> the sign-consensus mask (all ones without consensus),
/// <c>mixed /= Σ_i m_i w_i</c> when <c>normalize</c> (a zero divisor counts as 1; without consensus a divisor
/// under 1e-8 in magnitude counts as 1), <c>merged = B + lambda * mixed</c>.
/// Differences from mergekit, each keeping what it meant: deltas, weights and sums are float32 with float64
/// norms instead of the config dtype (mergekit rounds the weights to bf16 under <c>dtype: bfloat16</c>);
/// magnitude ties are broken by position instead of by torch's unspecified sort order; breadcrumbs with
/// <c>floor(gamma n) = 0</c> keeps the largest deltas (mergekit's slice <c>[n_bot:-0]</c> keeps none);
/// a magnitude density that keeps no element drops them all instead of failing an assertion; DELLA's
/// single-element rows get probability <c>density</c> (mergekit divides 0 by 0); DELLA ranks along the last
/// dimension for tensors of rank above 2 (mergekit ranks along dimension 1); random drops come from a
/// counter-based stream seeded by the config's <c>seed</c> and the tensor name (mergekit's torch.bernoulli
/// draws from the global generator); <c>int8_mask</c> is ignored (it only changes mergekit's mask storage).
/// Runs on the kernel contract: |M_i - B| (<see cref="IElementwiseKernels.AbsDifference"/>) and its rank bounds
/// (<see cref="IMergeKernels.SelectRanks"/>), DARE's drops (<see cref="IElementwiseKernels.RandomKeepMask"/>), the L1
/// norms (<see cref="IElementwiseKernels.AbsDifferenceSums"/>) and the combine, in one pass over the models
/// (<see cref="IElementwiseKernels.TaskArithmetic"/>). On the CPU: marking the rank window (two counting passes
/// over the magnitudes) and DELLA's per-row stable sort.</summary>
public abstract class GeneralizedTaskArithmetic : IMergeMethod
{
    private readonly SignConsensus _consensus;
    private readonly Sparsification _sparsification;
    private readonly bool _defaultNormalize;
    private readonly bool _defaultRescale;

    /// <summary>A method of the family: <paramref name="name"/> and <paramref name="formula"/> as <c>engine methods</c> lists
    /// them, its sign consensus and sparsification, and the defaults of <c>normalize</c> and <c>rescale</c>.</summary>
    protected GeneralizedTaskArithmetic(string name, string formula, SignConsensus consensus, Sparsification sparsification, bool defaultNormalize, bool defaultRescale)
    {
        Name = name;
        Formula = formula;
        _consensus = consensus;
        _sparsification = sparsification;
        _defaultNormalize = defaultNormalize;
        _defaultRescale = defaultRescale;
        var parameters = new List<MethodParameter>
        {
            new("int8_mask", false, false, "mergekit's mask storage switch; ignored with a warning"),
            new("normalize", defaultNormalize, false, "divide the mixed delta by the sum of the (elected) weights"),
            new("rescale", defaultRescale, false, "rescale each sparsified delta to its original L1 norm"),
            new("lambda", 1.0, false, "scale of the mixed delta"),
            new("weight", null, true, "weight of the model's task vector", Required: true),
            new("density", 1.0, true, "fraction of the task vector kept", Min: 0, Max: 1),
        };
        if (sparsification == Sparsification.MagnitudeOutliers) parameters.Add(new("gamma", 0.01, true, "fraction of the largest deltas dropped as outliers", Min: 0, Max: 1));
        if (sparsification == Sparsification.DellaMagprune) parameters.Add(new("epsilon", 0.15, true, "half-width of the keep-probability range around density", Min: 0, Max: 0.5));
        Parameters = parameters;
    }

    /// <inheritdoc/>
    public string Name { get; }
    /// <inheritdoc/>
    public string Formula { get; }
    /// <inheritdoc/>
    public IReadOnlyList<MethodParameter> Parameters { get; }
    /// <inheritdoc/>
    public bool RequiresBase => true;

    /// <inheritdoc/>
    public void Validate(MergeDocument document, string where, ImmutableArray<string>.Builder warnings)
    {
        MethodRules.RequireBase(this, document, where);
        MethodRules.RequirePerModel(this, document, where, "weight");
        MethodRules.CheckParameters(this, document, where, warnings);
    }

    /// <inheritdoc/>
    public JsonObject Merge(TensorMergeInputs inputs, ITensorOutput output, IMergeKernels kernels, CancellationToken cancellation)
    {
        var b = inputs.Base!.Value;
        int k = inputs.Others.Length;
        long n = b.Length;
        if (k == 0)
        {
            ElementwiseOps.Copy(output, b, cancellation);
            return new JsonObject { ["elements"] = n, ["models"] = 0 };
        }
        var weights = new float[k];
        var masks = new KeepMask?[k];
        var scales = new float[k];
        var kept = new JsonArray();
        bool rescale = inputs.GetBool("rescale", _defaultRescale);
        for (int i = 0; i < k; i++)
        {
            weights[i] = (float)inputs.GetModelDouble(i, "weight", null);
            double density = inputs.GetModelDouble(i, "density", 1.0);
            (masks[i], scales[i]) = Sparsify(inputs, i, density, rescale, kernels, cancellation);
            kept.Add(masks[i] is { } m ? (double)m.Count() / Math.Max(1, n) : 1.0);
        }
        bool normalize = inputs.GetBool("normalize", _defaultNormalize);
        float lambda = (float)inputs.GetDouble("lambda", 1.0);
        var terms = new TaskArithmeticTerms(weights.ToImmutableArray(), scales.ToImmutableArray(), masks.Select(m => m?.Words).ToImmutableArray(),
            _consensus == SignConsensus.Sum, normalize, lambda);
        var models = inputs.Others.Select(o => o.Tensor).ToArray();
        output.Fill((chunk, start) =>
            kernels.TaskArithmetic(chunk, models.Select(x => x.Slice(start, chunk.Length)).ToArray(), b.Slice(start, chunk.Length), terms, start), cancellation);

        return new JsonObject
        {
            ["elements"] = n,
            ["models"] = k,
            ["kept_fractions"] = kept,
            ["normalize"] = normalize,
            ["rescale"] = rescale,
            ["lambda"] = (double)lambda,
        };
    }

    /// <summary>The keep mask (null: keep all) and the L1 rescale factor of model <paramref name="model"/>'s delta.</summary>
    private (KeepMask?, float) Sparsify(TensorMergeInputs inputs, int model, double density, bool rescale, IMergeKernels kernels, CancellationToken cancellation)
    {
        if (_sparsification == Sparsification.None || density >= 1) return (null, 1f);
        var b = inputs.Base!.Value;
        var m = inputs.Others[model].Tensor;
        long n = b.Length;
        KeepMask mask;
        switch (_sparsification)
        {
            case Sparsification.Magnitude:
            {
                long keep = (long)(density * n);
                using var magnitudes = AbsDelta(inputs, m, b, kernels);
                mask = KeepMask.RankWindow(magnitudes, n - keep, n, kernels, cancellation);
                break;
            }
            case Sparsification.MagnitudeOutliers:
            {
                double gamma = inputs.GetModelDouble(model, "gamma", 0.01);
                long target = (long)(density * n), top = (long)(gamma * n), bottom = n - target - top;
                if (bottom < 0)
                {
                    top += bottom;
                    bottom = 0;
                }
                using var magnitudes = AbsDelta(inputs, m, b, kernels);
                mask = KeepMask.RankWindow(magnitudes, bottom, n - top, kernels, cancellation);
                break;
            }
            case Sparsification.Random:
                mask = new KeepMask(n);
                kernels.RandomKeepMask(mask.Words, n, CounterRandom.For(inputs.Document.Seed, inputs.TensorName, model).Key, density);
                break;
            case Sparsification.DellaMagprune:
            {
                if (density <= 0)
                {
                    mask = new KeepMask(n);
                    break;
                }
                double epsilon = inputs.GetModelDouble(model, "epsilon", 0.15);
                if (density + epsilon >= 1 || density - epsilon <= 0)
                    throw new MergeConfigException($"{Name}: tensor '{inputs.TensorName}': epsilon {epsilon} must keep density {density} +/- epsilon inside (0, 1)");
                using var magnitudes = AbsDelta(inputs, m, b, kernels);
                mask = DellaMask(magnitudes, inputs.RowLength, density, epsilon, CounterRandom.For(inputs.Document.Seed, inputs.TensorName, model), cancellation);
                break;
            }
            default:
                throw new InvalidOperationException(_sparsification.ToString());
        }
        return (mask, rescale ? L1RescaleFactor(m, b, mask, kernels) : 1f);
    }

    /// <summary>|M - B| in float32, for ranking.</summary>
    private static NativeArray<float> AbsDelta(TensorMergeInputs inputs, RawTensor m, RawTensor b, IMergeKernels kernels)
    {
        var magnitudes = inputs.RentFloats(b.Length);
        try
        {
            kernels.AbsDifference(magnitudes, m, b);
            return magnitudes;
        }
        catch
        {
            magnitudes.Dispose();
            throw;
        }
    }

    /// <summary>DELLA's MagPrune: per row of the last dimension, the stable ascending rank r of |delta| gives
    /// <c>p = density - epsilon + 2 epsilon r / (m - 1)</c>; keep when the element's draw is below p.</summary>
    internal static KeepMask DellaMask(NativeArray<float> magnitudes, int rowLength, double density, double epsilon, CounterRandom random, CancellationToken cancellation)
    {
        long n = magnitudes.Length;
        var mask = new KeepMask(n);
        if (n == 0) return mask;
        long rows = n / rowLength;
        bool ownWords = rowLength % 64 == 0; // rows then never share a mask word
        Parallel.For(0L, rows, new ParallelOptions { CancellationToken = cancellation }, () => new RowSorter(rowLength), (row, _, sorter) =>
        {
            long first = row * rowLength;
            var order = sorter.StableOrder(magnitudes.Slice(first, rowLength));
            for (int r = 0; r < order.Length; r++)
            {
                double norm = rowLength > 1 ? (double)r / (rowLength - 1) : 0.5;
                long e = first + order[r];
                if (random.Uniform(e) >= density - epsilon + norm * 2 * epsilon) continue;
                if (ownWords) mask.Set(e);
                else mask.SetAtomic(e);
            }
            return sorter;
        }, _ => { });
        return mask;
    }

    /// <summary>Stable ascending order of one row of non-negative floats: LSD radix sort of the float bits
    /// (which order like the values for x >= 0), four 8-bit passes, ties kept in position order.</summary>
    private sealed class RowSorter(int length)
    {
        private readonly uint[] _keys = new uint[length], _keysOut = new uint[length];
        private readonly int[] _order = new int[length], _orderOut = new int[length];
        private readonly int[] _counts = new int[256];

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public ReadOnlySpan<int> StableOrder(ReadOnlySpan<float> values)
        {
            uint[] keys = _keys, keysOut = _keysOut;
            int[] order = _order, orderOut = _orderOut;
            for (int i = 0; i < values.Length; i++)
            {
                keys[i] = BitConverter.SingleToUInt32Bits(values[i]);
                order[i] = i;
            }
            for (int shift = 0; shift < 32; shift += 8)
            {
                Array.Clear(_counts);
                for (int i = 0; i < values.Length; i++) _counts[(keys[i] >> shift) & 0xFF]++;
                int total = 0;
                for (int d = 0; d < 256; d++) (_counts[d], total) = (total, total + _counts[d]);
                for (int i = 0; i < values.Length; i++)
                {
                    int at = _counts[(keys[i] >> shift) & 0xFF]++;
                    keysOut[at] = keys[i];
                    orderOut[at] = order[i];
                }
                (keys, keysOut) = (keysOut, keys);
                (order, orderOut) = (orderOut, order);
            }
            return order.AsSpan(0, values.Length);
        }
    }

    /// <summary><c>Σ|d| / Σ|mask d|</c> in float64, or 1 when either is under 1e-7 (mergekit's rule).</summary>
    private static float L1RescaleFactor(RawTensor m, RawTensor b, KeepMask mask, IMergeKernels kernels)
    {
        Span<double> sums = stackalloc double[2];
        kernels.AbsDifferenceSums(sums, m, b, mask.Words);
        if (sums[0] < 1e-7 || sums[1] < 1e-7) return 1f;
        return (float)(sums[0] / sums[1]);
    }
}
