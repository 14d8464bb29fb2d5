using Engine.Core;
using Engine.Core.Numerics;
using Engine.Kernels.Cpu;

namespace Engine.Kernels.Parity;

/// <summary>The <see cref="IElementwiseKernels"/> cases of the self-test: every primitive on a backend against
/// the CPU reference, with mixed stored dtypes, signed zeros, deltas of exactly zero, ranges that start inside
/// a mask word, and tensors spanning several reduction blocks. Masks and |x - y| must be bit-identical;
/// element-wise combines within two float32 ulps of the terms' magnitude, one ulp of a 16-bit output dtype
/// (bit-identical where the backend keeps the reference's operation order without fused multiply-adds, as
/// ILGPU's CPU accelerator and the CUDA C kernels do: the detail then says so); reductions within
/// <see cref="KernelTolerances.ReductionRelative"/>.</summary>
internal sealed unsafe class ElementwiseSelfTest(int seed, bool small)
{
    /// <summary>The kernels <see cref="Run"/> reports, in the order it first reports them.</summary>
    public static readonly string[] Kernels =
    [
        "linear_combination", "gram", "abs_difference", "random_keep_mask", "task_arithmetic", "abs_difference_sums", "near_swap", "counted_average",
        "amplified_counted_average", "segmented_linear_combination", "delta_variance", "delta_square_sums", "sign_elected_mean", "pair_sums", "slerp_blend",
    ];

    /// <summary>The kernels that keep the reference's operation order with every product and sum rounded on its own
    /// (no fused multiply-add): bit-identical to it on ILGPU's CPU accelerator. Their ILGPU kernels are the Pascal-case
    /// names (pair_sums: PairSumsRuns and PairSumsColumns, bit-identical there in the column layout only).</summary>
    public static readonly string[] RoundedKernels =
    [
        "linear_combination", "segmented_linear_combination", "task_arithmetic", "near_swap", "counted_average", "amplified_counted_average",
        "delta_variance", "sign_elected_mean", "slerp_blend",
    ];

    /// <summary>Every case on <paramref name="backend"/> against <paramref name="cpu"/>.</summary>
    public IEnumerable<SelfTestResult> Run(IMergeKernels backend, CpuMergeKernels cpu)
    {
        long[] lengths = small ? [1, 77, 70_001] : [1, 77, 3_000_017];
        foreach (long n in lengths)
        {
            foreach (var (output, input, withBase) in new[] { (DType.F32, DType.F32, false), (DType.BF16, DType.BF16, true), (DType.F16, DType.BF16, false), (DType.BF16, DType.F32, true) })
                yield return LinearCombinationCase(backend, cpu, n, output, input, withBase);
            foreach (bool withBase in new[] { false, true })
                yield return GramCase(backend, cpu, n, n, withBase);
            yield return AbsDifferenceCase(backend, cpu, n);
            yield return RandomKeepMaskCase(backend, cpu, n);
            foreach (var (consensus, normalize, lambda, start) in new[] { (true, true, 1f, 0L), (true, false, 0.8f, 5L), (false, true, 1.5f, 64L), (false, false, 1f, 3L) })
                yield return TaskArithmeticCase(backend, cpu, n, consensus, normalize, lambda, start);
            yield return AbsDifferenceSumsCase(backend, cpu, n);
            foreach (var (output, input, t) in new[] { (DType.F32, DType.F32, 0.002f), (DType.BF16, DType.BF16, -0.5f), (DType.F16, DType.F32, 3f) })
                yield return NearSwapCase(backend, cpu, n, output, input, t);
            foreach (var (output, input, epsilon) in new[] { (DType.F32, DType.F32, 1e-3f), (DType.BF16, DType.BF16, 0f) })
                yield return CountedAverageCase(backend, cpu, n, output, input, epsilon);
            foreach (var (output, input, epsilon) in new[] { (DType.F32, DType.F32, 1e-3f), (DType.BF16, DType.BF16, 0f), (DType.F16, DType.BF16, 2e-3f) })
                yield return AmplifiedCountedAverageCase(backend, cpu, n, output, input, epsilon);
            foreach (var (segment, start) in new[] { (7L, 0L), (101L, 45L), (Math.Max(1, n / 2), 3L) })
                yield return SegmentedLinearCombinationCase(backend, cpu, n, segment, start);
            yield return DeltaVarianceCase(backend, cpu, n);
            foreach (bool masked in new[] { false, true })
                yield return DeltaSquareSumsCase(backend, cpu, n, masked);
            foreach (var (masked, start) in new[] { (false, 0L), (true, 0L), (true, 37L) })
                yield return SignElectedMeanCase(backend, cpu, n, masked, start);
        }
        // nuslerp's layouts: 12 x 101 as one vector, 12 rows, 101 columns; the blends from inside a vector.
        foreach (var (vectors, alongFirst) in new[] { (1L, false), (12L, false), (101L, true) })
        {
            foreach (bool withBase in new[] { false, true })
            {
                yield return PairSumsCase(backend, cpu, 12 * 101, vectors, alongFirst, withBase);
                yield return SlerpBlendCase(backend, cpu, 12 * 101, vectors, alongFirst, withBase, start: withBase ? 50 : 0);
            }
        }
        yield return PairSumsCase(backend, cpu, small ? 70_001 : 3_000_017, 1, false, true);
        yield return GramCase(backend, cpu, 12 * 101, 101, true);
        yield return NonFiniteCase(backend, cpu);
        yield return NonFiniteVarianceCase(backend, cpu);
    }

    private Random RandomFor(params object[] parts) => new(HashCode.Combine(seed, string.Join('/', parts)));

    /// <summary>Three models near a base (some elements equal to it, some signed zeros), stored in <paramref name="dtype"/>.</summary>
    private static Inputs Make(Random random, long n, DType dtype)
    {
        var b = new float[n];
        for (long e = 0; e < n; e++) b[e] = random.Next(50) == 0 ? -0f : (float)(random.NextDouble() * 2 - 1) * 0.05f;
        var models = new KernelSelfTest.StoredTensor[3];
        for (int i = 0; i < models.Length; i++)
        {
            var x = new float[n];
            for (long e = 0; e < n; e++)
            {
                x[e] = random.Next(6) switch
                {
                    0 => b[e],
                    1 => random.Next(2) == 0 ? -0f : 0f,
                    _ => b[e] + (float)(random.NextDouble() * 2 - 1) * 0.004f,
                };
            }
            models[i] = KernelSelfTest.Store(x, dtype);
        }
        return new Inputs(models, KernelSelfTest.Store(b, dtype));
    }

    private static ulong[] RandomWords(Random random, long bits)
    {
        var words = new ulong[(bits + 63) / 64];
        for (int w = 0; w < words.Length; w++) words[w] = (ulong)random.NextInt64() ^ ((ulong)random.NextInt64() << 1);
        return words;
    }

    private SelfTestResult LinearCombinationCase(IMergeKernels backend, CpuMergeKernels cpu, long n, DType outputType, DType inputType, bool withBase)
    {
        using var data = Make(RandomFor("linear", n, outputType, inputType, withBase), n, inputType);
        float[] coefficients = [0.3f, -1.25f, 0.7f];
        var models = data.Models.Select(m => m.Raw).ToArray();
        RawTensor? @base = withBase ? data.Base.Raw : null;
        string name = $"n={n} 3 x {inputType} -> {outputType}{(withBase ? ", base form" : "")}";
        return CompareOutputs(backend, cpu, "linear_combination", name, outputType, n, (k, output) => k.LinearCombination(output, models, coefficients, @base));
    }

    private SelfTestResult SegmentedLinearCombinationCase(IMergeKernels backend, CpuMergeKernels cpu, long n, long segment, long start)
    {
        var random = RandomFor("segmented", n, segment, start);
        using var data = Make(random, n + start, DType.BF16);
        long segments = (start + n - 1) / segment + 1;
        var coefficients = new float[segments * 3];
        for (int i = 0; i < coefficients.Length; i++) coefficients[i] = (float)(random.NextDouble() * 2 - 0.5);
        var models = data.Models.Select(m => m.Raw.Slice(start, n)).ToArray();
        var @base = data.Base.Raw.Slice(start, n);
        string name = $"n={n} from element {start}, segments of {segment}, base form";
        return CompareOutputs(backend, cpu, "segmented_linear_combination", name, DType.BF16, n,
            (k, output) => k.SegmentedLinearCombination(output, models, coefficients, @base, segment, start));
    }

    private SelfTestResult NearSwapCase(IMergeKernels backend, CpuMergeKernels cpu, long n, DType outputType, DType inputType, float t)
    {
        using var data = Make(RandomFor("nearswap", n, outputType, inputType, t), n, inputType);
        string name = $"n={n} {inputType} -> {outputType}, t={t}";
        return CompareOutputs(backend, cpu, "near_swap", name, outputType, n, (k, output) => k.NearSwap(output, data.Models[0].Raw, data.Base.Raw, t));
    }

    private SelfTestResult CountedAverageCase(IMergeKernels backend, CpuMergeKernels cpu, long n, DType outputType, DType inputType, float epsilon)
    {
        using var data = Make(RandomFor("counted", n, outputType, inputType, epsilon), n, inputType);
        var models = data.Models.Select(m => m.Raw).ToArray();
        string name = $"n={n} 3 x {inputType} -> {outputType}, epsilon={epsilon}";
        return CompareOutputs(backend, cpu, "counted_average", name, outputType, n, (k, output) => k.CountedAverage(output, models, data.Base.Raw, epsilon));
    }

    private SelfTestResult AmplifiedCountedAverageCase(IMergeKernels backend, CpuMergeKernels cpu, long n, DType outputType, DType inputType, float epsilon)
    {
        using var data = Make(RandomFor("amplified", n, outputType, inputType, epsilon), n, inputType);
        var models = data.Models.Select(m => m.Raw).ToArray();
        float[] lambda = [1.02f, 1.2f, 0.9f];
        string name = $"n={n} 3 x {inputType} -> {outputType}, epsilon={epsilon}";
        return CompareOutputs(backend, cpu, "amplified_counted_average", name, outputType, n,
            (k, output) => k.AmplifiedCountedAverage(output, models, data.Base.Raw, lambda, epsilon));
    }

    private SelfTestResult DeltaVarianceCase(IMergeKernels backend, CpuMergeKernels cpu, long n)
    {
        using var data = Make(RandomFor("variance", n), n, DType.BF16);
        var models = data.Models.Select(m => m.Raw).ToArray();
        using var expected = new NativeArray<float>(n);
        using var actual = new NativeArray<float>(n);
        string name = $"n={n} 3 x BF16";
        long expectedNonzero = cpu.DeltaVariance(expected, models, data.Base.Raw), actualNonzero;
        try
        {
            actualNonzero = backend.DeltaVariance(actual, models, data.Base.Raw);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new SelfTestResult(backend.Device, "delta_variance", name, double.NaN, false, $"threw {e.GetType().Name}: {e.Message} (seed {seed})");
        }
        if (expectedNonzero != actualNonzero)
            return new SelfTestResult(backend.Device, "delta_variance", name, double.PositiveInfinity, false, $"nonzero: expected {expectedNonzero}, got {actualNonzero} (seed {seed})");
        if (expected.Span.SequenceEqual(actual.Span)) return new SelfTestResult(backend.Device, "delta_variance", name, 0, true, "bit-identical");
        double worst = 0;
        for (long i = 0; i < n; i++)
        {
            double e32 = expected.Pointer[i], a32 = actual.Pointer[i], difference = Math.Abs(a32 - e32), scale = Math.Max(Math.Abs(e32), 1e-30);
            // The centred squares are rounded sums of k terms: a few float32 ulps where a backend fuses them.
            if (!(difference <= 8.0 / (1 << 23) * scale + 1e-38))
                return new SelfTestResult(backend.Device, "delta_variance", name, double.PositiveInfinity, false, $"element {i}: expected {e32:R}, got {a32:R} (seed {seed})");
            worst = Math.Max(worst, difference / scale);
        }
        return new SelfTestResult(backend.Device, "delta_variance", name, worst, true, $"within rounding (max relative {worst:G3})");
    }

    private SelfTestResult NonFiniteVarianceCase(IMergeKernels backend, CpuMergeKernels cpu)
    {
        const long n = 300;
        var b = new float[n];
        var x = new float[n];
        var y = new float[n];
        y[250] = float.NaN;
        b[200] = float.PositiveInfinity;
        x[220] = float.NegativeInfinity;
        using var @base = KernelSelfTest.Store(b, DType.F32);
        using var first = KernelSelfTest.Store(x, DType.F32);
        using var second = KernelSelfTest.Store(y, DType.F32);
        return KernelSelfTest.SameError(backend, cpu, "delta_variance", "NaN/inf deltas are reported like the CPU", k =>
        {
            using var variance = new NativeArray<float>(n);
            k.DeltaVariance(variance, [second.Raw, first.Raw], @base.Raw);
        });
    }

    private SelfTestResult DeltaSquareSumsCase(IMergeKernels backend, CpuMergeKernels cpu, long n, bool masked)
    {
        var random = RandomFor("squares", n, masked);
        using var data = Make(random, n, DType.F16);
        var keep = masked ? RandomWords(random, n) : null;
        var models = data.Models.Select(m => m.Raw).ToArray();
        var expected = new double[models.Length];
        var actual = new double[models.Length];
        string name = $"n={n} 3 x F16{(masked ? ", masked" : "")}";
        cpu.DeltaSquareSums(expected, models, data.Base.Raw, keep);
        try
        {
            backend.DeltaSquareSums(actual, models, data.Base.Raw, keep);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new SelfTestResult(backend.Device, "delta_square_sums", name, double.NaN, false, $"threw {e.GetType().Name}: {e.Message} (seed {seed})");
        }
        double worst = 0;
        for (int i = 0; i < models.Length; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]);
            if (!(error <= KernelTolerances.ReductionRelative * expected[i] + 1e-300))
                return new SelfTestResult(backend.Device, "delta_square_sums", name, double.PositiveInfinity, false, $"sums[{i}]: expected {expected[i]:R}, got {actual[i]:R} (seed {seed})");
            if (expected[i] > 0) worst = Math.Max(worst, error / expected[i]);
        }
        return new SelfTestResult(backend.Device, "delta_square_sums", name, worst, true, worst == 0 ? "identical" : $"max relative {worst:G3}");
    }

    private SelfTestResult SignElectedMeanCase(IMergeKernels backend, CpuMergeKernels cpu, long n, bool masked, long start)
    {
        var random = RandomFor("elected", n, masked, start);
        using var data = Make(random, n + start, DType.BF16);
        var keep = masked ? RandomWords(random, n + start) : null;
        float[] weights = [0.5f, 0.2f, 0.3f];
        var models = data.Models.Select(m => m.Raw.Slice(start, n)).ToArray();
        var @base = data.Base.Raw.Slice(start, n);
        string name = $"n={n} from element {start}{(masked ? ", masked" : "")}";
        return CompareOutputs(backend, cpu, "sign_elected_mean", name, DType.F32, n, (k, output) => k.SignElectedMean(output, models, @base, weights, keep, start));
    }

    private SelfTestResult PairSumsCase(IMergeKernels backend, CpuMergeKernels cpu, long n, long vectors, bool alongFirst, bool withBase)
    {
        using var data = Make(RandomFor("pairs", n, vectors, alongFirst, withBase), n, DType.BF16);
        RawTensor? @base = withBase ? data.Base.Raw : null;
        var expected = new double[vectors * 4];
        var actual = new double[vectors * 4];
        string name = $"n={n}, {vectors} {(alongFirst ? "columns" : "rows")}{(withBase ? " minus the base" : "")}";
        cpu.PairSums(expected, data.Models[0].Raw, data.Models[1].Raw, @base, vectors, alongFirst);
        try
        {
            backend.PairSums(actual, data.Models[0].Raw, data.Models[1].Raw, @base, vectors, alongFirst);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new SelfTestResult(backend.Device, "pair_sums", name, double.NaN, false, $"threw {e.GetType().Name}: {e.Message} (seed {seed})");
        }
        double worst = 0;
        for (long v = 0; v < vectors; v++)
        {
            // Every sum against the larger squared norm of its vector (the scale of the dot product and the difference).
            double scale = Math.Max(expected[v * 4], expected[v * 4 + 1]);
            for (int w = 0; w < 4; w++)
            {
                double error = Math.Abs(actual[v * 4 + w] - expected[v * 4 + w]);
                if (!(error <= KernelTolerances.ReductionRelative * scale + 1e-300))
                    return new SelfTestResult(backend.Device, "pair_sums", name, double.PositiveInfinity, false, $"vector {v} sum {w}: expected {expected[v * 4 + w]:R}, got {actual[v * 4 + w]:R} (seed {seed})");
                if (scale > 0) worst = Math.Max(worst, error / scale);
            }
        }
        return new SelfTestResult(backend.Device, "pair_sums", name, worst, true, worst == 0 ? "identical" : $"max error {worst:G3} of the larger norm²");
    }

    private SelfTestResult SlerpBlendCase(IMergeKernels backend, CpuMergeKernels cpu, long length, long vectors, bool alongFirst, bool withBase, long start)
    {
        var random = RandomFor("blend", length, vectors, alongFirst, withBase, start);
        using var data = Make(random, length, DType.BF16);
        long n = length - start;
        var coefficients = new float[vectors * 2];
        for (int i = 0; i < coefficients.Length; i++) coefficients[i] = (float)(random.NextDouble() * 1.5 - 0.25);
        var lerp = RandomWords(random, vectors);
        var x0 = data.Models[0].Raw.Slice(start, n);
        var x1 = data.Models[1].Raw.Slice(start, n);
        RawTensor? @base = withBase ? data.Base.Raw.Slice(start, n) : null;
        string name = $"{length} elements from {start}, {vectors} {(alongFirst ? "columns" : "rows")}{(withBase ? ", base form" : "")}";
        return CompareOutputs(backend, cpu, "slerp_blend", name, DType.BF16, n,
            (k, output) => k.SlerpBlend(output, x0, x1, @base, coefficients, lerp, 0.3f, length, vectors, alongFirst, start));
    }

    private SelfTestResult TaskArithmeticCase(IMergeKernels backend, CpuMergeKernels cpu, long n, bool consensus, bool normalize, float lambda, long start)
    {
        var random = RandomFor("task", n, consensus, normalize, lambda, start);
        using var data = Make(random, n + start, DType.BF16);
        var terms = new TaskArithmeticTerms([0.6f, 0.3f, -0.2f], [1f, 1.7f, 1f], [RandomWords(random, n + start), null, RandomWords(random, n + start)], consensus, normalize, lambda);
        var models = data.Models.Select(m => m.Raw.Slice(start, n)).ToArray();
        var @base = data.Base.Raw.Slice(start, n);
        string name = $"n={n} from element {start}, consensus {consensus}, normalize {normalize}, lambda {lambda}";
        return CompareOutputs(backend, cpu, "task_arithmetic", name, DType.BF16, n, (k, output) => k.TaskArithmetic(output, models, @base, terms, start));
    }

    /// <summary>Runs <paramref name="run"/> on both backends into fresh outputs of <paramref name="outputType"/> and compares them.</summary>
    private SelfTestResult CompareOutputs(IMergeKernels backend, CpuMergeKernels cpu, string kernel, string name, DType outputType, long n, Action<IMergeKernels, RawTensor> run)
    {
        using var expectedBytes = new NativeArray<byte>(Math.Max(1, n * outputType.SizeOf()));
        using var actualBytes = new NativeArray<byte>(Math.Max(1, n * outputType.SizeOf()));
        var expected = new RawTensor(expectedBytes.Pointer, outputType, n);
        var actual = new RawTensor(actualBytes.Pointer, outputType, n);
        run(cpu, expected);
        try
        {
            run(backend, actual);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new SelfTestResult(backend.Device, kernel, name, double.NaN, false, $"threw {e.GetType().Name}: {e.Message} (seed {seed})");
        }
        if (expectedBytes.Span.SequenceEqual(actualBytes.Span)) return new SelfTestResult(backend.Device, kernel, name, 0, true, "bit-identical");
        var e32 = new float[n];
        var a32 = new float[n];
        expected.ReadSingles(0, e32);
        actual.ReadSingles(0, a32);
        // Two float32 ulps of the result's magnitude, or one ulp of a 16-bit output dtype.
        double ulp = outputType switch { DType.BF16 => 1.0 / 128, DType.F16 => 1.0 / 1024, _ => 2.0 / (1 << 23) };
        double worst = 0;
        for (long i = 0; i < n; i++)
        {
            double difference = Math.Abs((double)a32[i] - e32[i]), scale = Math.Max(Math.Abs(e32[i]), 1e-30);
            if (float.IsNaN(e32[i]) != float.IsNaN(a32[i]) || difference > ulp * scale + 1e-38)
                return new SelfTestResult(backend.Device, kernel, name, double.PositiveInfinity, false, $"element {i}: expected {e32[i]:R}, got {a32[i]:R} (seed {seed})");
            if (difference > 0) worst = Math.Max(worst, difference / scale);
        }
        return new SelfTestResult(backend.Device, kernel, name, worst, true, $"within rounding (max relative {worst:G3})");
    }

    private SelfTestResult GramCase(IMergeKernels backend, CpuMergeKernels cpu, long n, long segment, bool withBase)
    {
        using var data = Make(RandomFor("gram", n, segment, withBase), n, DType.BF16);
        var models = data.Models.Select(m => m.Raw).ToArray();
        RawTensor? @base = withBase ? data.Base.Raw : null;
        long segments = n / segment;
        var expected = new double[segments * 9];
        var actual = new double[segments * 9];
        string name = $"n={n}, segments of {segment}, 3 models{(withBase ? " minus the base" : "")}";
        cpu.Gram(expected, models, @base, segment);
        try
        {
            backend.Gram(actual, models, @base, segment);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new SelfTestResult(backend.Device, "gram", name, double.NaN, false, $"threw {e.GetType().Name}: {e.Message} (seed {seed})");
        }
        double worst = 0;
        for (long s = 0; s < segments; s++)
        {
            for (int i = 0; i < 3; i++)
            {
                for (int j = 0; j < 3; j++)
                {
                    long at = s * 9 + i * 3 + j;
                    double scale = Math.Sqrt(expected[s * 9 + i * 4] * expected[s * 9 + j * 4]), error = Math.Abs(actual[at] - expected[at]);
                    if (!(error <= KernelTolerances.ReductionRelative * scale + 1e-300))
                        return new SelfTestResult(backend.Device, "gram", name, double.PositiveInfinity, false, $"segment {s} [{i},{j}]: expected {expected[at]:R}, got {actual[at]:R} (seed {seed})");
                    if (scale > 0) worst = Math.Max(worst, error / scale);
                }
            }
        }
        return new SelfTestResult(backend.Device, "gram", name, worst, true, worst == 0 ? "identical" : $"max error {worst:G3} of sqrt(G_ii G_jj)");
    }

    private SelfTestResult AbsDifferenceCase(IMergeKernels backend, CpuMergeKernels cpu, long n)
    {
        using var data = Make(RandomFor("abs", n), n, DType.F16);
        using var expected = new NativeArray<float>(n);
        using var actual = new NativeArray<float>(n);
        string name = $"n={n} F16";
        cpu.AbsDifference(expected, data.Models[0].Raw, data.Base.Raw);
        try
        {
            backend.AbsDifference(actual, data.Models[0].Raw, data.Base.Raw);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new SelfTestResult(backend.Device, "abs_difference", name, double.NaN, false, $"threw {e.GetType().Name}: {e.Message} (seed {seed})");
        }
        for (long i = 0; i < n; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected.Pointer[i]) != BitConverter.SingleToInt32Bits(actual.Pointer[i]))
                return new SelfTestResult(backend.Device, "abs_difference", name, double.PositiveInfinity, false, $"element {i}: expected {expected.Pointer[i]:R}, got {actual.Pointer[i]:R} (seed {seed})");
        }
        return new SelfTestResult(backend.Device, "abs_difference", name, 0, true, "bit-identical");
    }

    private SelfTestResult NonFiniteCase(IMergeKernels backend, CpuMergeKernels cpu)
    {
        const long n = 300;
        var x = new float[n];
        var b = new float[n];
        x[250] = float.NaN;
        b[200] = float.PositiveInfinity;
        x[201] = float.MaxValue;
        b[201] = -float.MaxValue;    // finite inputs, infinite difference: reported as "other"
        using var other = KernelSelfTest.Store(x, DType.F32);
        using var @base = KernelSelfTest.Store(b, DType.F32);
        return KernelSelfTest.SameError(backend, cpu, "abs_difference", "NaN/inf differences are reported like the CPU", k =>
        {
            using var magnitudes = new NativeArray<float>(n);
            k.AbsDifference(magnitudes, other.Raw, @base.Raw);
        });
    }

    private SelfTestResult AbsDifferenceSumsCase(IMergeKernels backend, CpuMergeKernels cpu, long n)
    {
        var random = RandomFor("l1", n);
        using var data = Make(random, n, DType.BF16);
        var keep = RandomWords(random, n);
        Span<double> expected = stackalloc double[2];
        Span<double> actual = stackalloc double[2];
        string name = $"n={n}";
        cpu.AbsDifferenceSums(expected, data.Models[1].Raw, data.Base.Raw, keep);
        try
        {
            backend.AbsDifferenceSums(actual, data.Models[1].Raw, data.Base.Raw, keep);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new SelfTestResult(backend.Device, "abs_difference_sums", name, double.NaN, false, $"threw {e.GetType().Name}: {e.Message} (seed {seed})");
        }
        double worst = 0;
        for (int i = 0; i < 2; i++)
        {
            double error = Math.Abs(actual[i] - expected[i]);
            if (!(error <= KernelTolerances.ReductionRelative * expected[i] + 1e-300))
                return new SelfTestResult(backend.Device, "abs_difference_sums", name, double.PositiveInfinity, false, $"sums[{i}]: expected {expected[i]:R}, got {actual[i]:R} (seed {seed})");
            if (expected[i] > 0) worst = Math.Max(worst, error / expected[i]);
        }
        return new SelfTestResult(backend.Device, "abs_difference_sums", name, worst, true, worst == 0 ? "identical" : $"max relative {worst:G3}");
    }

    private SelfTestResult RandomKeepMaskCase(IMergeKernels backend, CpuMergeKernels cpu, long n)
    {
        ulong key = (ulong)RandomFor("mask", n).NextInt64();
        // One spare word, filled with ones, must come back cleared.
        var expected = Enumerable.Repeat(ulong.MaxValue, (int)((n + 63) / 64) + 1).ToArray();
        var actual = expected.ToArray();
        string name = $"n={n}, density 0.3";
        cpu.RandomKeepMask(expected, n, key, 0.3);
        try
        {
            backend.RandomKeepMask(actual, n, key, 0.3);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return new SelfTestResult(backend.Device, "random_keep_mask", name, double.NaN, false, $"threw {e.GetType().Name}: {e.Message} (seed {seed})");
        }
        int mismatch = expected.AsSpan().CommonPrefixLength(actual);
        return mismatch < expected.Length
            ? new SelfTestResult(backend.Device, "random_keep_mask", name, double.PositiveInfinity, false, $"word {mismatch}: expected {expected[mismatch]:X16}, got {actual[mismatch]:X16} (key {key})")
            : new SelfTestResult(backend.Device, "random_keep_mask", name, 0, true, "bit-identical");
    }

    private sealed record Inputs(KernelSelfTest.StoredTensor[] Models, KernelSelfTest.StoredTensor Base) : IDisposable
    {
        public void Dispose()
        {
            foreach (var m in Models) m.Dispose();
            Base.Dispose();
        }
    }
}
